/**
 * `tscni reload` in a sandbox, on both backends: containers set up by `tscni add` (libcni's
 * cache) with masquerade, port forwarding and the firewall plugin; the sandbox host's rules are
 * flushed (`iptables -t nat -F` and `iptables -F`, or `nft flush ruleset`, only ever inside the
 * sandbox's host netns), traffic proves masquerade and forwarding broken, reload puts back
 * exactly what was there, a second reload changes nothing. Also: intact containers are left
 * alone, a container being deleted is not restored, a dry run changes nothing, and a reload
 * racing ADDs and DELs leaves no rule of a deleted container behind.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, Sandbox, runOk, type RunResult } from '../testutil/sandbox';
import { fetchFrom, startServer, type TestServer } from '../testutil/traffic';

type Backend = 'iptables' | 'nftables';

const OUT_HOST = '192.168.77.1';
const OUT_PEER = '192.168.77.2';
/** The containers every test starts with, and the host port forwarded to each. */
const SERVED = [
  ['c1', 8081],
  ['c2', 8082],
] as const;

class World {
  readonly servers: TestServer[] = [];
  env: Record<string, string> = {};
  constructor(
    readonly sb: Sandbox,
    readonly backend: Backend,
  ) {}

  netns(name: string): string {
    return `/run/netns/${this.sb.nsName(name)}`;
  }
  /** The container ID `tscni add` derives from the netns path (cnitool's rule). */
  cid(name: string): string {
    return `cnitool-${createHash('sha512').update(this.netns(name)).digest('hex').slice(0, 20)}`;
  }
  tscni(args: string[], extraEnv: Record<string, string> = {}): Promise<RunResult> {
    const env = { ...this.env, ...extraEnv };
    return this.sb.exec('host', [
      'env',
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      join(BIN_DIR, 'tscni'),
      ...args,
    ]);
  }
  async add(name: string, hostPort: number): Promise<void> {
    if (!readdirSync('/run/netns').includes(this.sb.nsName(name))) await this.sb.addContainer(name);
    const r = await this.tscni(['add', 'rlnet', this.netns(name)], {
      CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] }),
    });
    if (r.code !== 0) throw new Error(`tscni add ${name}: ${r.stderr}`);
  }
  /** DEL, retried as runtimes retry it (a concurrent flush can make one attempt fail). */
  async del(name: string): Promise<void> {
    let r: RunResult | undefined;
    for (let i = 0; i < 3 && r?.code !== 0; i++) r = await this.tscni(['del', 'rlnet', this.netns(name)]);
    if (r?.code !== 0) throw new Error(`tscni del ${name}: ${r?.stderr}`);
  }
  reload(...args: string[]): Promise<RunResult> {
    return this.tscni(['reload', ...args]);
  }

  /** A TCP server in `where` that answers each connection with `reply` (or the peer's address). */
  async serve(where: string, port: number, reply: string | 'peer'): Promise<void> {
    this.servers.push(await startServer(this.sb, where, port, reply));
  }
  /** What a new TCP connection from `where` to host:port gets back ('' when it fails). */
  fetch(where: string, host: string, port: number): Promise<string> {
    return fetchFrom(this.sb, where, host, port);
  }
  /** Masquerade works when the outside sees the sandbox host's address, not the container's. */
  masquerades(name: string): Promise<boolean> {
    return this.fetch(name, OUT_PEER, 9000).then((seen) => seen === OUT_HOST);
  }
  forwards(port: number, name: string): Promise<boolean> {
    return this.fetch('out', OUT_HOST, port).then((got) => got === `hello-${name}`);
  }

  /** Every rule of the sandbox host: iptables-save without counters and comments, and the nft ruleset with handles. */
  async rules(): Promise<string> {
    const ipt = (await this.sb.exec('host', ['iptables-save'])).stdout
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]'))
      .join('\n');
    const nft = (await this.sb.exec('host', ['nft', '-a', 'list', 'ruleset'])).stdout.replace(
      /counter packets \d+ bytes \d+/g,
      'counter',
    );
    return `${ipt}\n${nft}`;
  }
  /** The same as a multiset of lines without nft handles: equal when the same rules exist, in any order. */
  async ruleSet(): Promise<string[]> {
    return (await this.rules())
      .split('\n')
      .map((l) => l.replace(/ # handle \d+$/, '').trim())
      .filter((l) => l !== '')
      .sort();
  }
  async flush(): Promise<void> {
    // Inside the sandbox's host netns only.
    if (this.backend === 'iptables') {
      await runOk(['ip', 'netns', 'exec', this.sb.hostNs, 'iptables', '-t', 'nat', '-F']);
      await runOk(['ip', 'netns', 'exec', this.sb.hostNs, 'iptables', '-F']);
    } else {
      await runOk(['ip', 'netns', 'exec', this.sb.hostNs, 'nft', 'flush', 'ruleset']);
    }
  }
  async destroy(): Promise<void> {
    for (const s of this.servers) s.stop();
    await this.sb.destroy();
  }
}

async function world(backend: Backend): Promise<World> {
  const w = new World(await Sandbox.create(`rl${backend.slice(0, 3)}`), backend);
  const { sb } = w;
  mkdirSync(join(sb.dir, 'net.d'));
  writeFileSync(
    join(sb.dir, 'net.d', '10-rlnet.conflist'),
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'rlnet',
      plugins: [
        {
          type: 'bridge',
          bridge: 'rlbr0',
          isGateway: true,
          isDefaultGateway: true,
          ipMasq: true,
          ipMasqBackend: backend,
          macspoofchk: true,
          ipam: { type: 'host-local', subnet: '10.77.0.0/24', dataDir: join(sb.dir, 'leases') },
        },
        { type: 'portmap', capabilities: { portMappings: true }, backend },
        { type: 'firewall', backend, dataDir: join(sb.dir, 'fw') },
      ],
    }),
  );
  w.env = {
    NETCONFPATH: join(sb.dir, 'net.d'),
    CNI_PATH: BIN_DIR,
    CNI_CACHE_DIR: join(sb.dir, 'cache'),
    TSCNI_RUN_DIR: join(sb.dir, 'run'),
  };
  // The outside: a namespace behind a veth of the sandbox host, with no route to the containers.
  await sb.addContainer('out');
  const host = (...a: string[]): Promise<RunResult> => runOk(['ip', '-n', sb.hostNs, ...a]);
  await host('link', 'add', 'out0', 'type', 'veth', 'peer', 'name', 'out1', 'netns', sb.nsName('out'));
  await host('addr', 'add', `${OUT_HOST}/24`, 'dev', 'out0');
  await host('link', 'set', 'out0', 'up');
  await runOk(['ip', '-n', sb.nsName('out'), 'addr', 'add', `${OUT_PEER}/24`, 'dev', 'out1']);
  await runOk(['ip', '-n', sb.nsName('out'), 'link', 'set', 'out1', 'up']);
  await w.serve('out', 9000, 'peer');
  for (const [name, port] of SERVED) {
    await w.add(name, port);
    await w.serve(name, 80, `hello-${name}`);
  }
  return w;
}

/** Each container of SERVED reaches the outside (masqueraded) and is reached through its host port. */
async function expectServing(w: World): Promise<void> {
  for (const [name, port] of SERVED) {
    expect(await w.masquerades(name)).toBe(true);
    expect(await w.forwards(port, name)).toBe(true);
  }
}

const lines = (r: RunResult): string[] => r.stdout.split('\n').filter((l) => l !== '');

describe.each<Backend>(['iptables', 'nftables'])('tscni reload (%s)', (backend) => {
  let w: World;
  beforeAll(async () => {
    w = await world(backend);
  });
  afterAll(async () => w?.destroy());

  it('restores masquerade, port forwarding and the firewall plugin after a flush, exactly as they were', async () => {
    await expectServing(w);
    const before = await w.ruleSet();
    await w.flush();
    expect(await w.masquerades('c1')).toBe(false);
    expect(await w.forwards(8081, 'c1')).toBe(false);

    // A dry run lists what is broken and changes nothing.
    const flushed = await w.rules();
    const broken = ['masquerade', 'port forwarding', 'container forwarding'];
    if (backend === 'nftables') broken.push('MAC spoof check');
    const dry = await w.reload('--dry-run');
    expect(dry.code).toBe(0);
    for (const name of ['c1', 'c2'])
      for (const what of broken)
        expect(lines(dry)).toContainEqual(
          expect.stringMatching(new RegExp(`^broken +rlnet/${w.cid(name)}/eth0 ${what}:`)),
        );
    expect(await w.rules()).toBe(flushed);

    const r = await w.reload();
    // The MAC spoof check lives in nftables' bridge family: `iptables -F` leaves it alone.
    const intact = backend === 'iptables' ? 2 : 0;
    expect(r.stderr).toMatch(`${8 - intact} restored, ${intact} intact, 0 broken, 0 gone, 0 skipped, 0 failed`);
    expect(r.code).toBe(0);
    await expectServing(w);
    // The same rules as before the flush: none missing, none doubled.
    expect(await w.ruleSet()).toEqual(before);
    // Their CHECK agrees.
    for (const name of ['c1', 'c2']) expect((await w.tscni(['check', 'rlnet', w.netns(name)])).code).toBe(0);
  });

  it('a second reload changes nothing', async () => {
    const once = await w.rules();
    const r = await w.reload();
    expect(r.stderr).toMatch(/0 restored, 8 intact/);
    expect(lines(r).every((l) => l.startsWith('intact '))).toBe(true);
    expect(await w.rules()).toBe(once); // byte for byte, nft handles included
  });

  it('leaves containers whose rules are intact alone', async () => {
    // Break only c1's masquerade.
    if (backend === 'iptables') {
      const jump = (await w.sb.exec('host', ['iptables', '-t', 'nat', '-S', 'POSTROUTING'])).stdout
        .split('\n')
        .find((l) => l.includes(w.cid('c1')));
      expect(jump).toBeDefined();
      const input = `*nat\n${(jump ?? '').replace(/^-A /, '-D ')}\nCOMMIT\n`;
      await runOk(['ip', 'netns', 'exec', w.sb.hostNs, 'iptables-restore', '--noflush'], { input });
    } else {
      const listing = (
        await w.sb.exec('host', ['nft', '-a', 'list', 'chain', 'inet', 'cni_plugins_masquerade', 'masq_checks'])
      ).stdout;
      const handle = /ip saddr 10\.77\.0\.\d+ .*id: (\S+)" # handle (\d+)/.exec(
        listing.split('\n').find((l) => l.includes(w.cid('c1'))) ?? '',
      )?.[2];
      await runOk([
        'ip',
        'netns',
        'exec',
        w.sb.hostNs,
        'nft',
        'delete',
        'rule',
        'inet',
        'cni_plugins_masquerade',
        'masq_checks',
        'handle',
        handle ?? '0',
      ]);
    }
    expect(await w.masquerades('c1')).toBe(false);
    const c2Before = (await w.rules()).split('\n').filter((l) => l.includes(w.cid('c2')));
    const r = await w.reload();
    expect(lines(r).filter((l) => !l.startsWith('intact '))).toEqual([
      expect.stringMatching(new RegExp(`^restored rlnet/${w.cid('c1')}/eth0 masquerade: `)),
    ]);
    expect(await w.masquerades('c1')).toBe(true);
    expect((await w.rules()).split('\n').filter((l) => l.includes(w.cid('c2')))).toEqual(c2Before);
  });

  it('does not restore a container whose DEL has begun, and its DEL then leaves nothing', async () => {
    await w.add('c3', 8083);
    // The runtime's DEL of c3 stopped after portmap (as between two plugins of its chain).
    const cache = JSON.parse(
      (await w.sb.exec('host', ['cat', join(w.env['CNI_CACHE_DIR'] ?? '', 'results', `rlnet-${w.cid('c3')}-eth0`)]))
        .stdout,
    ) as { result: unknown };
    const pm = await w.sb.runPlugin(
      join(BIN_DIR, 'portmap'),
      {
        command: 'DEL',
        containerId: w.cid('c3'),
        netns: w.netns('c3'),
        ifName: 'eth0',
        env: { TSCNI_RUN_DIR: w.env['TSCNI_RUN_DIR'] },
      },
      { cniVersion: '1.1.0', name: 'rlnet', type: 'portmap', backend, prevResult: cache.result },
    );
    expect(pm.code).toBe(0);
    await w.flush();
    const r = await w.reload();
    expect(lines(r)).toContainEqual(`skipped  rlnet/${w.cid('c3')}/eth0 all: being deleted (teardown mark)`);
    expect(lines(r).filter((l) => l.includes(w.cid('c3')))).toHaveLength(1);
    expect(await w.forwards(8081, 'c1')).toBe(true);
    await w.del('c3');
    expect((await w.rules()).includes(w.cid('c3'))).toBe(false);
    expect(readdirSync(join(w.env['TSCNI_RUN_DIR'] ?? '', 'teardown'))).toEqual([]);
  });

  it('restores containers of a runtime that keeps no cache, from the leases and the firewall records', async () => {
    await w.sb.addContainer('d1');
    const list = JSON.parse(
      (await w.sb.exec('host', ['cat', join(w.env['NETCONFPATH'] ?? '', '10-rlnet.conflist')])).stdout,
    ) as { plugins: Array<Record<string, unknown>> };
    const plugin = (i: number, prevResult?: unknown): Record<string, unknown> => ({
      ...list.plugins[i],
      cniVersion: '1.1.0',
      name: 'rlnet',
      ...(prevResult === undefined ? {} : { prevResult }),
    });
    const direct = (type: string, command: string, config: unknown): Promise<RunResult> =>
      w.sb.runPlugin(
        join(BIN_DIR, type),
        { command, containerId: 'ctr-d1', netns: w.netns('d1'), ifName: 'eth0' },
        config,
      );
    const br = await direct('bridge', 'ADD', plugin(0));
    expect(br.code).toBe(0);
    expect((await direct('firewall', 'ADD', plugin(2, br.json))).code).toBe(0);
    expect(await w.masquerades('d1')).toBe(true);
    await w.flush();
    expect(await w.masquerades('d1')).toBe(false);
    const r = await w.reload();
    expect(lines(r).filter((l) => l.includes('ctr-d1'))).toEqual([
      expect.stringMatching(/^restored rlnet\/ctr-d1\/eth0 masquerade: /),
      expect.stringMatching(/^restored rlnet\/ctr-d1\/eth0 container forwarding: /),
    ]);
    expect(await w.masquerades('d1')).toBe(true);
    expect((await direct('firewall', 'DEL', plugin(2, br.json))).code).toBe(0);
    expect((await direct('bridge', 'DEL', plugin(0, br.json))).code).toBe(0);
    expect((await w.rules()).includes('ctr-d1')).toBe(false);
    expect(lines(await w.reload()).filter((l) => l.includes('ctr-d1'))).toEqual([]);
  });

  it('racing ADDs and DELs, reloads leave no rule of a deleted container and restore every live one', async () => {
    const names = ['r1', 'r2', 'r3', 'r4'];
    const churn = async (name: string, port: number): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await w.add(name, port);
        await w.del(name);
      }
    };
    const reloads = async (): Promise<void> => {
      for (let i = 0; i < 4; i++) {
        await w.flush();
        const r = await w.reload();
        expect(r.stdout).not.toMatch(/^failed/m);
      }
    };
    // Everything finishes before anything is judged (a failure must not leave calls running).
    const settled = await Promise.allSettled([...names.map((n, i) => churn(n, 8090 + i)), reloads()]);
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    const rules = await w.rules();
    for (const n of names) expect(rules.includes(w.cid(n))).toBe(false);
    await w.reload();
    await expectServing(w);
  });
});
