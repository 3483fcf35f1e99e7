/**
 * dnsname's state, called directly (no chain) with the same config and prevResult:
 * - against Debian's containers/dnsname 1.3.1 (/usr/lib/cni/dnsname): the same result, the same
 *   files, the same names served; and on one network directory, each finds and serves with the
 *   other's dnsmasq and removes the other's names; a holder of the reference's lock excludes ours;
 * - after kill -9 of the plugin in the middle of ADD or DEL (at spread moments; while it waits
 *   for dnsmasq to start; while it waits for dnsmasq's reload), DEL or the next ADD repairs:
 *   no stale name, no orphan or second dnsmasq, nothing left after the last DEL.
 *
 * The sandbox: a host namespace with a bridge holding the gateway address and containers wired
 * to it by hand (so that they can ask the resolver); every plugin call runs in private mount and
 * PID namespaces (PluginSpace), where the dnsmasq instances live and die with the test.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseHosts } from '../../lib/dns/hosts';
import { dig, Querier, resolves } from '../../lib/testutil/dns-client';
import { flockWaitersOn } from '../../lib/testutil/locks';
import { PluginSpace } from '../../lib/testutil/plugin-space';
import { findProgram, requireProgram } from '../../lib/testutil/programs';
import { BIN_DIR, REFERENCE_DIR, Sandbox, run, runOk, type RunResult } from '../../lib/testutil/sandbox';

const OURS = join(BIN_DIR, 'dnsname');
const REFERENCE = join(REFERENCE_DIR, 'dnsname');
const BRIDGE = 'dnst0';
const GATEWAY = '10.95.1.1';
const NET = 'statenet';
const TIMEOUT_MS = 180_000;
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
// Containers with an address on the bridge; q asks the resolver, the others are named in calls.
const CONTAINERS = ['q', 'c1', 'c2', 'c3', 'k'] as const;
type Ctr = (typeof CONTAINERS)[number];
const ADDRESS: Record<Ctr, string> = {
  q: '10.95.1.9',
  c1: '10.95.1.11',
  c2: '10.95.1.12',
  c3: '10.95.1.13',
  k: '10.95.1.20',
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

let sb: Sandbox;
let space: PluginSpace;
let states = 0;

beforeAll(async () => {
  requireProgram('dnsmasq');
  requireProgram('/usr/lib/cni/dnsname');
  sb = await Sandbox.create('dnst');
  const h = sb.hostNs;
  await runOk(['ip', '-n', h, 'link', 'add', BRIDGE, 'type', 'bridge']);
  await runOk(['ip', '-n', h, 'addr', 'add', `${GATEWAY}/24`, 'dev', BRIDGE]);
  await runOk(['ip', '-n', h, 'link', 'set', BRIDGE, 'up']);
  for (const c of CONTAINERS) {
    await sb.addContainer(c);
    const ns = sb.nsName(c);
    await runOk(['ip', '-n', h, 'link', 'add', `v${c}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await runOk(['ip', '-n', h, 'link', 'set', `v${c}`, 'master', BRIDGE, 'up']);
    await runOk(['ip', '-n', ns, 'addr', 'add', `${ADDRESS[c]}/24`, 'dev', 'eth0']);
    await runOk(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  }
  space = await PluginSpace.create();
  // The host's resolvers, as the plugins see them: an address on the bridge where nothing answers.
  const resolv = join(sb.dir, 'resolv.conf');
  writeFileSync(resolv, 'nameserver 10.95.1.250\n');
  await runOk(space.enter(['mount', '--bind', resolv, '/etc/resolv.conf']));
}, 60_000);

afterAll(async () => {
  await space?.destroy();
  await sb?.destroy();
}, 60_000);

/** A fresh directory for $XDG_RUNTIME_DIR: the plugins keep the network's state under it. */
function stateRoot(): string {
  const d = join(sb.dir, `xdg${states++}`);
  mkdirSync(d);
  return d;
}
const netDir = (xdg: string): string => join(xdg, 'containers/cni/dnsname', NET);

const conf = (ctr: Ctr, aliases: string[] = []): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: NET,
  type: 'dnsname',
  domainName: 'dns.podman',
  capabilities: { aliases: true },
  runtimeConfig: { aliases: { [NET]: aliases } },
  prevResult: {
    cniVersion: '1.0.0',
    interfaces: [
      { name: BRIDGE, mac: '02:00:00:00:00:01' },
      { name: `v${ctr}`, mac: '02:00:00:00:00:02' },
      { name: 'eth0', mac: '02:00:00:00:00:03', sandbox: `/run/netns/${sb.nsName(ctr)}` },
    ],
    ips: [{ address: `${ADDRESS[ctr]}/24`, gateway: GATEWAY, interface: 2 }],
    routes: [{ dst: '0.0.0.0/0' }],
    dns: {},
  },
});

interface Call {
  plugin: string;
  xdg: string;
  verb: 'ADD' | 'CHECK' | 'DEL';
  ctr: Ctr;
  name: string;
  aliases?: string[];
  path?: string;
}

const envOf = (c: Call): Record<string, string> => ({
  PATH: c.path ?? PATH,
  CNI_COMMAND: c.verb,
  CNI_CONTAINERID: `${c.ctr}${'0'.repeat(20)}`,
  CNI_NETNS: `/run/netns/${sb.nsName(c.ctr)}`,
  CNI_IFNAME: 'eth0',
  CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=${c.name}`,
  CNI_PATH: BIN_DIR,
  XDG_RUNTIME_DIR: c.xdg,
});

const call = (c: Call): Promise<RunResult> =>
  run(space.enter(['ip', 'netns', 'exec', sb.hostNs, c.plugin]), {
    input: JSON.stringify(conf(c.ctr, c.aliases)),
    env: envOf(c),
  });

async function ok(c: Call): Promise<RunResult> {
  const r = await call(c);
  if (r.code !== 0) throw new Error(`${c.plugin} ${c.verb} ${c.ctr} failed (${r.code}): ${r.stdout}${r.stderr}`);
  return r;
}

/** Running (not zombie) dnsmasq processes of the space serving the state under `xdg`: their PIDs there. */
async function resolvers(xdg: string): Promise<number[]> {
  const script = 'for p in /proc/[0-9]*; do printf "%s " "${p#/proc/}"; tr "\\0" " " < "$p/cmdline"; echo; done';
  const out = (await run(space.enter(['sh', '-c', script]))).stdout;
  return out
    .split('\n')
    .filter((l) => l.includes('dnsmasq') && l.includes(`--conf-file=${netDir(xdg)}/dnsmasq.conf`))
    .map((l) => Number(l.split(' ')[0]));
}

const pidFile = (xdg: string): number => Number(readFileSync(join(netDir(xdg), 'pidfile'), 'utf8').trim());
const ask = (name: string): Promise<string[]> => resolves(sb, 'q', GATEWAY, name);
const hostsOf = (xdg: string): Array<{ ip: string; names: readonly string[] }> =>
  parseHosts(readFileSync(join(netDir(xdg), 'addnhosts'), 'utf8')).map((l) => ({ ip: l.ip, names: l.names }));

describe('dnsname against containers/dnsname 1.3.1 (the reference)', () => {
  it(
    'the same config and prevResult: the same result, the same files, the same names served; DEL leaves nothing',
    async () => {
      interface Seen {
        results: unknown[];
        files: string[];
        hosts: Array<{ ip: string; names: readonly string[] }>;
        conf: string[];
        argv: string;
        answers: string[][];
      }
      const runOne = async (plugin: string): Promise<Seen> => {
        const xdg = stateRoot();
        const results = [
          (await ok({ plugin, xdg, verb: 'ADD', ctr: 'c1', name: 'web', aliases: ['www'] })).json,
          (await ok({ plugin, xdg, verb: 'ADD', ctr: 'c2', name: 'db' })).json,
        ];
        // The reference does not wait for dnsmasq's reload: both are asked once it answers.
        await waitFor('db to resolve', async () => (await ask('db')).length > 0);
        const answers = [];
        for (const n of ['web', 'www.dns.podman', 'db.dns.podman', 'nosuch']) answers.push(await ask(n));
        const ptr = await dig(sb, 'q', GATEWAY, '11.1.95.10.in-addr.arpa', 'PTR');
        answers.push(ptr === 'timeout' ? [] : ptr.data);
        const [pid] = await resolvers(xdg);
        const argv = (await run(space.enter(['cat', `/proc/${pid}/cmdline`]))).stdout.split('\0').join(' ');
        const seen: Seen = {
          results,
          files: readdirSync(netDir(xdg)).sort(),
          hosts: hostsOf(xdg),
          conf: readFileSync(join(netDir(xdg), 'dnsmasq.conf'), 'utf8')
            .split(xdg)
            .join('$XDG')
            .split('\n'),
          argv: argv.split(xdg).join('$XDG'),
          answers,
        };
        for (const [ctr, name] of [
          ['c1', 'web'],
          ['c2', 'db'],
        ] as const)
          await ok({ plugin, xdg, verb: 'DEL', ctr, name });
        expect(existsSync(netDir(xdg))).toBe(false);
        // The reference kills dnsmasq without waiting for it to go.
        await waitFor('no dnsmasq', async () => (await resolvers(xdg)).length === 0);
        return seen;
      };
      const ours = await runOne(OURS);
      const ref = await runOne(REFERENCE);
      expect(ours.results).toEqual(ref.results);
      expect((ours.results[0] as { dns?: unknown }).dns).toEqual({ nameservers: [GATEWAY], search: ['dns.podman'] });
      // Ours has one file more: the upstreams it forwards to (lib/dns/upstream.ts).
      expect(ours.files).toEqual([...ref.files, 'tscni-resolv.conf'].sort());
      expect(ours.hosts).toEqual(ref.hosts);
      // Every line of the reference's configuration, in its order, is in ours.
      const at = ref.conf.filter((l) => l !== '').map((l) => ours.conf.indexOf(l));
      expect(at.filter((i) => i < 0)).toEqual([]);
      expect([...at].sort((a, b) => a - b)).toEqual(at);
      expect(ours.argv).toBe(ref.argv);
      expect(ours.answers).toEqual(ref.answers);
      expect(ours.answers.slice(0, 3)).toEqual([[ADDRESS.c1], [ADDRESS.c1], [ADDRESS.c2]]);
      expect(ours.answers[4]).toEqual(['web.dns.podman']);
    },
    TIMEOUT_MS,
  );

  it(
    "the reference's dnsmasq, then ours: each finds the other's, serves the other's names and removes them",
    async () => {
      const xdg = stateRoot();
      await ok({ plugin: REFERENCE, xdg, verb: 'ADD', ctr: 'c1', name: 'web' });
      await waitFor('web to resolve', async () => (await ask('web')).length > 0);
      const theirs = await resolvers(xdg);
      expect(theirs).toEqual([pidFile(xdg)]);
      // Ours finds it running with another configuration: replaces it by one with its own.
      await ok({ plugin: OURS, xdg, verb: 'ADD', ctr: 'c2', name: 'db' });
      expect(await resolvers(xdg)).toEqual([pidFile(xdg)]);
      expect(await ask('db')).toEqual([ADDRESS.c2]);
      expect(await ask('web')).toEqual([ADDRESS.c1]);
      // The reference finds ours running (its configuration file is there) and tells it to reload.
      const mine = pidFile(xdg);
      await ok({ plugin: REFERENCE, xdg, verb: 'ADD', ctr: 'c3', name: 'cache' });
      await waitFor('cache to resolve', async () => (await ask('cache')).length > 0);
      expect(await resolvers(xdg)).toEqual([mine]);
      // Ours removes a line the reference wrote (by the container's name) ...
      await ok({ plugin: OURS, xdg, verb: 'DEL', ctr: 'c1', name: 'web' });
      expect(await ask('web')).toEqual([]);
      // ... and the reference one ours wrote (its DEL matches the name, second on the line).
      await ok({ plugin: REFERENCE, xdg, verb: 'DEL', ctr: 'c2', name: 'db' });
      await waitFor('db to go', async () => (await ask('db')).length === 0);
      expect(await ask('cache')).toEqual([ADDRESS.c3]);
      await ok({ plugin: OURS, xdg, verb: 'DEL', ctr: 'c3', name: 'cache' });
      expect(existsSync(netDir(xdg))).toBe(false);
      expect(await resolvers(xdg)).toEqual([]);
    },
    TIMEOUT_MS,
  );

  it(
    "ours first, then the reference: it keeps our dnsmasq; each removes the other's names; the reference's last DEL stops ours",
    async () => {
      const xdg = stateRoot();
      await ok({ plugin: OURS, xdg, verb: 'ADD', ctr: 'c1', name: 'web' });
      const mine = pidFile(xdg);
      await ok({ plugin: REFERENCE, xdg, verb: 'ADD', ctr: 'c2', name: 'db' });
      await waitFor('db to resolve', async () => (await ask('db')).length > 0);
      expect(await resolvers(xdg)).toEqual([mine]);
      expect(await ask('web')).toEqual([ADDRESS.c1]);
      // Our CHECK passes: the resolver runs and our line is there.
      expect((await call({ plugin: OURS, xdg, verb: 'CHECK', ctr: 'c1', name: 'web' })).code).toBe(0);
      await ok({ plugin: OURS, xdg, verb: 'DEL', ctr: 'c2', name: 'db' });
      expect(await ask('db')).toEqual([]);
      await ok({ plugin: REFERENCE, xdg, verb: 'DEL', ctr: 'c1', name: 'web' });
      expect(existsSync(netDir(xdg))).toBe(false);
      await waitFor('no dnsmasq', async () => (await resolvers(xdg)).length === 0);
    },
    TIMEOUT_MS,
  );
});

describe('dnsname and the reference share a lock', () => {
  it(
    "a holder of the reference's lock (flock on <network>/lock) keeps our ADD waiting until it lets go",
    async () => {
      const xdg = stateRoot();
      await ok({ plugin: OURS, xdg, verb: 'ADD', ctr: 'c1', name: 'web' });
      const lock = join(netDir(xdg), 'lock');
      const holder = spawn('flock', ['-o', lock, 'sleep', '60'], { stdio: 'ignore' });
      const held = new Promise((r) => holder.on('close', r));
      try {
        await waitFor('the holder to lock', async () =>
          readFileSync('/proc/locks', 'utf8').includes(`:${statSync(lock).ino} `),
        );
        const second = ok({ plugin: OURS, xdg, verb: 'ADD', ctr: 'c2', name: 'db' });
        await waitFor('our ADD to wait for the lock', async () => flockWaitersOn(lock) > 0);
        holder.kill('SIGKILL');
        await second;
        expect(await ask('db')).toEqual([ADDRESS.c2]);
      } finally {
        holder.kill('SIGKILL');
        await held;
      }
      for (const [ctr, name] of [
        ['c1', 'web'],
        ['c2', 'db'],
      ] as const)
        await ok({ plugin: OURS, xdg, verb: 'DEL', ctr, name });
      expect(existsSync(netDir(xdg))).toBe(false);
    },
    TIMEOUT_MS,
  );
});

describe('dnsname after kill -9', () => {
  const web = (xdg: string): Call => ({ plugin: OURS, xdg, verb: 'ADD', ctr: 'c1', name: 'web' });
  const victim = (xdg: string, verb: Call['verb'] = 'ADD', path?: string): Call => ({
    plugin: OURS,
    xdg,
    verb,
    ctr: 'k',
    name: 'victim',
    aliases: ['victim-alias'],
    ...(path ? { path } : {}),
  });
  const start = (c: Call): ReturnType<PluginSpace['start']> =>
    space.start(sb.dir, ['ip', 'netns', 'exec', sb.hostNs, c.plugin], JSON.stringify(conf(c.ctr, c.aliases)), envOf(c));
  /** After the repair: the victim's names are gone from the file and from the answers, one dnsmasq or none. */
  const repaired = async (xdg: string, others: boolean): Promise<void> => {
    if (!others) {
      expect(existsSync(netDir(xdg))).toBe(false);
      expect(await resolvers(xdg)).toEqual([]);
      return;
    }
    expect(await ask('victim')).toEqual([]);
    expect(await ask('victim-alias.dns.podman')).toEqual([]);
    expect(hostsOf(xdg).some((l) => l.names.includes('victim'))).toBe(false);
    expect(await resolvers(xdg)).toEqual([pidFile(xdg)]);
    expect(await ask('web')).toEqual([ADDRESS.c1]);
  };

  it(
    'ADD killed at spread moments, on an empty network and on one with a container: DEL or the next ADD repairs',
    async () => {
      for (let i = 0; i < 8; i++) {
        const xdg = stateRoot();
        const others = i % 2 === 1;
        if (others) await ok(web(xdg));
        const p = await start(victim(xdg));
        // start-up is tens of ms here; spread the kills over it and the work after it
        await sleep(10 + ((i * 37) % 150));
        await space.kill(p.pid, 'KILL');
        await p.exited;
        if (i % 4 < 2) {
          // the runtime's DEL after a failed ADD
          await ok(victim(xdg, 'DEL'));
        } else {
          // or the runtime tries ADD again: it works, and its DEL then repairs
          await ok(victim(xdg));
          expect(await ask('victim')).toEqual([ADDRESS.k]);
          expect(await resolvers(xdg)).toEqual([pidFile(xdg)]);
          await ok(victim(xdg, 'DEL'));
        }
        await repaired(xdg, others);
        if (others) await ok({ ...web(xdg), verb: 'DEL' });
        expect(existsSync(netDir(xdg))).toBe(false);
        expect(await resolvers(xdg)).toEqual([]);
      }
    },
    TIMEOUT_MS,
  );

  it(
    'ADD killed while dnsmasq starts (first container): DEL stops the dnsmasq it had started; ADD again works',
    async () => {
      const xdg = stateRoot();
      // A dnsmasq that starts the real one and then keeps the plugin waiting.
      const wrap = join(sb.dir, 'slow-dnsmasq');
      mkdirSync(wrap, { recursive: true });
      const real = findProgram('dnsmasq') ?? 'dnsmasq';
      writeFileSync(
        join(wrap, 'dnsmasq'),
        `#!/bin/sh\necho $$ > ${wrap}/pid\n${real} "$@" || exit $?\nexec sleep 600\n`,
      );
      chmodSync(join(wrap, 'dnsmasq'), 0o755);
      const p = await start(victim(xdg, 'ADD', `${wrap}:${PATH}`));
      await waitFor('dnsmasq to run', async () => (await resolvers(xdg)).length === 1);
      await space.kill(p.pid, 'KILL');
      await p.exited;
      await space.kill(Number(readFileSync(join(wrap, 'pid'), 'utf8')), 'KILL');
      await ok(victim(xdg, 'DEL'));
      await repaired(xdg, false);
      await ok(victim(xdg));
      expect(await ask('victim')).toEqual([ADDRESS.k]);
      await ok(victim(xdg, 'DEL'));
      await repaired(xdg, false);
    },
    TIMEOUT_MS,
  );

  it(
    'ADD and DEL killed while they wait for dnsmasq to reload: DEL, and DEL again, repair',
    async () => {
      const xdg = stateRoot();
      await ok(web(xdg));
      const q = await Querier.start(sb, 'q');
      try {
        for (const verb of ['ADD', 'DEL'] as const) {
          if (verb === 'DEL') await ok(victim(xdg));
          const dnsmasq = pidFile(xdg);
          // Stopped, dnsmasq cannot take the SIGHUP: the plugin waits with the file written.
          await space.kill(dnsmasq, 'STOP');
          const p = await start(victim(xdg, verb));
          await waitFor('the SIGHUP to be pending', async () => {
            const status = (await run(space.enter(['cat', `/proc/${dnsmasq}/status`]))).stdout;
            const pending = /^ShdPnd:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0';
            return (BigInt(`0x${pending}`) & 1n) === 1n; // bit 0: SIGHUP
          });
          await space.kill(p.pid, 'KILL');
          await p.exited;
          await space.kill(dnsmasq, 'CONT');
          await ok(victim(xdg, 'DEL'));
          // Asked the moment DEL returned, by a client already running.
          expect(await q.ask(GATEWAY, 'victim')).toMatchObject({ data: [] });
          await repaired(xdg, true);
        }
      } finally {
        q.stop();
      }
      await ok({ ...web(xdg), verb: 'DEL' });
      await repaired(xdg, false);
    },
    TIMEOUT_MS,
  );
});
