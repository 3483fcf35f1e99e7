/**
 * A sandbox world for the reload tests (test-only module): the sandbox host with an "outside"
 * namespace behind a veth, network `rlnet` (bridge with masquerade and MAC spoof check, portmap,
 * the firewall plugin) on one backend, containers set up by `tscni add` and serving on a host
 * port each, and the probes the tests use: traffic (masquerade, port forwarding), the sandbox
 * host's rules, and flushes that happen inside the sandbox host's netns only.
 */
import { expect } from '@jest/globals';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cnitoolId } from './cli-sandbox';
import { BIN_DIR, Sandbox, runOk, type RunResult } from './sandbox';
import { fetchFrom, startServer, type TestServer } from './traffic';

export type Backend = 'iptables' | 'nftables';

const OUT_HOST = '192.168.77.1';
const OUT_PEER = '192.168.77.2';
/** The containers every test starts with, and the host port forwarded to each. */
export const SERVED = [
  ['c1', 8081],
  ['c2', 8082],
] as const;

export class World {
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
    return cnitoolId(this.netns(name));
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

export async function world(backend: Backend, tag = `rl${backend.slice(0, 3)}`): Promise<World> {
  const w = new World(await Sandbox.create(tag), backend);
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
export async function expectServing(w: World): Promise<void> {
  for (const [name, port] of SERVED) {
    expect(await w.masquerades(name)).toBe(true);
    expect(await w.forwards(port, name)).toBe(true);
  }
}
