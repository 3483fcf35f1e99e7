/**
 * `tscni gc` in a sandbox (iptables backend; bridge with masquerade, portmap, firewall): 50
 * attachments leaked by `kill -9` — 25 during ADD (killed once their lease, or their masquerade
 * rule, exists), 25 during DEL (killed once the DEL's teardown mark exists) — and a simulated
 * reboot (containers whose netns is gone while the store, cache and rules stay; and leases of a
 * runtime without a cache that predate the boot). A dry run lists them and changes nothing;
 * then `tscni gc` frees every lease, rule, record, cache entry, mark and veth of theirs while
 * 20 live containers go through ADD and DEL beside it, and those lose nothing. Judged only from
 * the machine (--no-runtimes) with --min-age 0, so what keeps an ADD that runs right now safe
 * is the judgement itself (running plugin calls, addresses on interfaces), not its age.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { CliSandbox } from '../testutil/cli-sandbox';
import { BIN_DIR, type RunResult, type Sandbox } from '../testutil/sandbox';
import { waitFor } from '../testutil/wait';

const NET = 'gcnet';
/** A subnet no other suite uses: gc looks at the addresses of every namespace of the machine. */
const SUBNET = '10.213.0.0/16';
const LEAK_ADD = 25;
const LEAK_DEL = 25;
const REBOOT = 10;
const CACHELESS = 5;
const LIVE = 20;
const LONG = 600_000;

let cli: CliSandbox;
let sb: Sandbox;
const dir = (...p: string[]): string => cli.dir(...p);
const netnsOf = (name: string): string => cli.netns(name);
const cid = (name: string): string => cli.cid(name);
const tscniArgv = (args: string[], extra: Record<string, string> = {}): string[] => cli.argv(args, extra);
const tscni = (args: string[], extra: Record<string, string> = {}): Promise<RunResult> => cli.tscni(args, extra, LONG);
const port = (i: number): number => 20000 + i;
const caps = (i: number): Record<string, string> => ({
  CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: port(i), containerPort: 80, protocol: 'tcp' }] }),
});

async function addOk(name: string, i: number): Promise<void> {
  const r = await tscni(['add', NET, netnsOf(name)], caps(i));
  if (r.code !== 0) throw new Error(`tscni add ${name}: ${r.stderr}${r.stdout}`);
}

/** Runs `tscni <args>` in its own process group and kill -9s the group once `when()` holds. */
async function killDuring(args: string[], extra: Record<string, string>, when: () => boolean): Promise<boolean> {
  const child = spawn(tscniArgv(args, extra)[0] ?? 'ip', tscniArgv(args, extra).slice(1), {
    detached: true,
    stdio: 'ignore',
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let killed = false;
  await waitFor(
    `${args.join(' ')} to reach the point to kill it`,
    () => {
      if (child.exitCode !== null || child.signalCode !== null) return true;
      if (!when()) return false;
      process.kill(-(child.pid ?? 0), 'SIGKILL');
      killed = true;
      return true;
    },
    LONG,
    2,
  );
  await exited;
  return killed;
}

const leaseDir = (): string => dir('leases', NET);
const leasesOf = (id: string): string[] => cli.leasesOf(NET, id);
const cacheOf = (id: string): boolean => existsSync(cli.cacheFile(NET, id));
const rules = async (): Promise<string> =>
  (await sb.exec('host', ['iptables-save'])).stdout + (await sb.exec('host', ['nft', 'list', 'ruleset'])).stdout;
const recordOf = (id: string): boolean => existsSync(dir('fw', 'attachments', NET, id));
const markOf = (id: string): boolean => existsSync(dir('run', 'teardown', `${NET}:${id}:eth0`));
const hostVeths = async (): Promise<number> =>
  (await sb.exec('host', ['ip', '-o', 'link', 'show', 'master', 'gcbr0'])).stdout.split('\n').filter((l) => l).length;

/** Everything an attachment leaves, by kind; all empty once it is collected. */
async function traces(id: string, allRules?: string): Promise<string[]> {
  const r = allRules ?? (await rules());
  return [
    ...leasesOf(id).map((ip) => `lease ${ip}`),
    ...(cacheOf(id) ? ['cache entry'] : []),
    ...(r.includes(id) ? ['rules'] : []),
    ...(recordOf(id) ? ['firewall record'] : []),
    ...(markOf(id) ? ['teardown mark'] : []),
  ];
}

const leaked: string[] = [];
const live: string[] = [];

describe('tscni gc', () => {
  beforeAll(async () => {
    cli = await CliSandbox.create('gc', (d) => [
      {
        name: NET,
        plugins: [
          {
            type: 'bridge',
            bridge: 'gcbr0',
            isGateway: true,
            ipMasq: true,
            ipMasqBackend: 'iptables',
            ipam: { type: 'host-local', subnet: SUBNET, dataDir: d('leases') },
          },
          { type: 'portmap', capabilities: { portMappings: true }, backend: 'iptables' },
          { type: 'firewall', backend: 'iptables', dataDir: d('fw') },
        ],
      },
    ]);
    sb = cli.sb;
  });
  afterAll(async () => cli?.destroy());

  it('leaks: kill -9 during ADD and DEL, a reboot, a runtime without a cache', async () => {
    // ~100 plugin chains one after another: a guard against hangs on a busy machine, not a speed limit.
    // During ADD: killed once the lease (bridge's IPAM) or the masquerade rule exists.
    for (let i = 0; i < LEAK_ADD; i++) {
      const name = `ka${i}`;
      await sb.addContainer(name);
      const id = cid(name);
      let ruleSeen = false;
      let reading = false;
      const probe =
        i % 2 === 0
          ? (): boolean => leasesOf(id).length > 0
          : (): boolean => {
              // One reading of the rules at a time: each starts programs.
              if (!reading) {
                reading = true;
                void rules().then((r) => {
                  ruleSeen ||= r.includes(id);
                  reading = false;
                });
              }
              return ruleSeen;
            };
      await killDuring(['add', NET, netnsOf(name)], caps(i), probe);
      leaked.push(id);
    }
    // During DEL: added, then killed once the DEL's teardown mark is written.
    for (let i = 0; i < LEAK_DEL; i++) {
      const name = `kd${i}`;
      await sb.addContainer(name);
      await addOk(name, 100 + i);
      await killDuring(['del', NET, netnsOf(name)], {}, () => markOf(cid(name)));
      leaked.push(cid(name));
    }
    // The containers are gone with their network namespaces (their runtime died with them).
    for (let i = 0; i < LEAK_ADD; i++) await sb.removeContainer(`ka${i}`);
    for (let i = 0; i < LEAK_DEL; i++) await sb.removeContainer(`kd${i}`);
    // A reboot: namespaces gone, the store, cache and rules kept.
    for (let i = 0; i < REBOOT; i++) {
      await sb.addContainer(`rb${i}`);
      await addOk(`rb${i}`, 200 + i);
    }
    for (let i = 0; i < REBOOT; i++) {
      await sb.removeContainer(`rb${i}`);
      leaked.push(cid(`rb${i}`));
    }
    // A runtime that keeps no cache (plugins called directly), from before the last boot.
    const list = JSON.parse(readFileSync(dir('net.d', `10-${NET}.conflist`), 'utf8')) as {
      plugins: Array<Record<string, unknown>>;
    };
    for (let i = 0; i < CACHELESS; i++) {
      const ns = await sb.addContainer(`nc${i}`);
      const r = await sb.runPlugin(
        join(BIN_DIR, 'bridge'),
        { command: 'ADD', containerId: `nocache-${i}`, netns: ns, ifName: 'eth0', env: { TSCNI_RUN_DIR: dir('run') } },
        { ...list.plugins[0], cniVersion: '1.0.0', name: NET },
      );
      expect(r.code).toBe(0);
      await sb.removeContainer(`nc${i}`);
      const old = (Date.now() - 365 * 86_400_000) / 1000;
      for (const ip of leasesOf(`nocache-${i}`)) utimesSync(join(leaseDir(), ip), old, old);
      leaked.push(`nocache-${i}`);
    }
    // Live containers, some of them set up already.
    for (let i = 0; i < LIVE / 2; i++) {
      await sb.addContainer(`lv${i}`);
      await addOk(`lv${i}`, 300 + i);
      live.push(cid(`lv${i}`));
    }
    const all = await rules();
    const left = await Promise.all(leaked.map(async (id) => (await traces(id, all)).length));
    // Every kill left something behind (else the test would prove nothing for it).
    expect(left.filter((n) => n === 0)).toEqual([]);
  }, 1_800_000);

  it('a dry run lists every leaked attachment as gone, keeps the live ones, and changes nothing', async () => {
    const before = JSON.stringify([readdirSync(leaseDir()).sort(), readdirSync(dir('cache', 'results')).sort()]);
    const r = await tscni(['gc', '--dry-run', '--min-age', '0', '--no-runtimes']);
    expect(r.code).toBe(0);
    for (const id of leaked) expect(r.stdout).toMatch(new RegExp(`^gone +${NET}/${id}/eth0: `, 'm'));
    for (const id of live) expect(r.stdout).toMatch(new RegExp(`^kept +${NET}/${id}/eth0: `, 'm'));
    expect(r.stdout).toMatch(/predates the last boot/);
    expect(JSON.stringify([readdirSync(leaseDir()).sort(), readdirSync(dir('cache', 'results')).sort()])).toBe(before);
  });

  it(`collects them all while ${LIVE} live containers are added and deleted beside it, and those lose nothing`, async () => {
    const vethsBefore = await hostVeths();
    // Beside gc: the live half is deleted and added again, the other half added, then deleted and added again.
    const churn = async (i: number): Promise<void> => {
      const name = `lv${i}`;
      if (i >= LIVE / 2) await sb.addContainer(name);
      for (let round = 0; round < 2; round++) {
        if (round > 0 || i < LIVE / 2) {
          const d = await tscni(['del', NET, netnsOf(name)]);
          if (d.code !== 0) throw new Error(`del ${name}: ${d.stderr}`);
        }
        await addOk(name, 300 + i);
      }
    };
    let churning = true;
    const churns = Promise.allSettled(Array.from({ length: LIVE }, (_, i) => churn(i))).finally(
      () => (churning = false),
    );
    // gc again and again for as long as the churn goes on.
    const gcRun = (async (): Promise<RunResult[]> => {
      const out: RunResult[] = [];
      do out.push(await tscni(['gc', '--min-age', '0', '--no-runtimes']));
      while (churning);
      return out;
    })();
    const settled = [...(await churns), ...(await Promise.allSettled([gcRun]))];
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    const gcs = await gcRun;
    for (const g of gcs)
      expect({ code: g.code, failed: g.stdout.match(/^failed.*$/gm) }).toEqual({ code: 0, failed: null });
    const collected = gcs
      .flatMap((g) => g.stdout.match(/^collected +\S+/gm) ?? [])
      .map((l) => l.split(/ +/)[1]?.replace(/:$/, ''));
    expect(collected.sort()).toEqual(leaked.map((id) => `${NET}/${id}/eth0`).sort());

    // Nothing of the leaked ones is left.
    const all = await rules();
    for (const id of leaked) expect({ id, left: await traces(id, all) }).toEqual({ id, left: [] });
    // Every live container has everything, and its CHECK passes.
    for (let i = 0; i < LIVE; i++) {
      const id = cid(`lv${i}`);
      expect({
        id,
        lease: leasesOf(id).length,
        cache: cacheOf(id),
        rules: all.includes(id),
        record: recordOf(id),
      }).toEqual({
        id,
        lease: 1,
        cache: true,
        rules: true,
        record: true,
      });
      expect((await tscni(['check', NET, netnsOf(`lv${i}`)])).code).toBe(0);
    }
    // One lease per live container, no other; one bridge port each (the leaked veths went with their namespaces).
    expect(readdirSync(leaseDir()).filter((f) => /^[0-9]/.test(f))).toHaveLength(LIVE);
    expect(await hostVeths()).toBe(LIVE);
    expect(vethsBefore).toBeLessThanOrEqual(LIVE);
    // A second gc finds nothing to do.
    const again = await tscni(['gc', '--min-age', '0', '--no-runtimes']);
    expect(again.stderr).toMatch(`0 collected, ${LIVE} kept, 0 failed`);
    process.stdout.write(`gc: ${gcs.length} runs beside the churn; ${collected.length} collected\n`);
  }, 1_800_000);
});
