/**
 * loopback against the real kernel, in a sandbox: traffic over lo, DEL and CHECK, results and
 * kernel state next to the reference's at every version, chaining, and the two networks
 * containerd's CRI plugin sets up per pod (loopback + bridge).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../../lib/testutil/sandbox';
import { tcpEcho } from '../../lib/testutil/traffic';

const OURS = join(BIN_DIR, 'loopback');
const REFERENCE = join(REFERENCE_DIR, 'loopback');
const REFERENCE_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
let sb: Sandbox;

beforeAll(async () => {
  sb = await Sandbox.create('lo');
});
afterAll(async () => sb?.destroy());

const conf = (cniVersion = '1.0.0', extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion,
  name: 'cni-loopback',
  type: 'loopback',
  ...extra,
});
const nsPath = (ctr: string): string => `/run/netns/${sb.nsName(ctr)}`;
function call(exe: string, command: string, ctr: string, config: unknown, netns = nsPath(ctr)): Promise<RunResult> {
  return sb.runPlugin(exe, { command, containerId: `id-${ctr}`, netns, ifName: 'lo' }, config);
}

interface LoState {
  up: boolean;
  addrs: string[];
}
async function loState(ctr: string): Promise<LoState> {
  const r = await sb.exec(ctr, ['ip', '-j', 'addr', 'show', 'lo']);
  const [lo] = JSON.parse(r.stdout) as Array<{
    flags: string[];
    addr_info: Array<{ local: string; prefixlen: number }>;
  }>;
  return {
    up: lo?.flags.includes('UP') ?? false,
    addrs: (lo?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`),
  };
}

describe('loopback in a fresh namespace', () => {
  it('ADD brings lo up: the container reaches its own 127.0.0.1 and ::1 servers', async () => {
    await sb.addContainer('a', { loopbackUp: false });
    expect((await tcpEcho(sb, 'a', '127.0.0.1')).ok).toBe(false); // lo down: nothing to listen on
    const r = await call(OURS, 'ADD', 'a', conf());
    expect(r.code).toBe(0);
    expect(r.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: nsPath('a') }],
      ips: [
        { interface: 0, address: '127.0.0.1/8' },
        { interface: 0, address: '::1/128' },
      ],
    });
    expect(await loState('a')).toEqual({ up: true, addrs: ['127.0.0.1/8', '::1/128'] });
    for (const host of ['127.0.0.1', '::1']) {
      const echo = await tcpEcho(sb, 'a', host);
      expect(echo.output).toBe(`echo via ${host}`);
    }
  });

  it('CHECK passes while lo is up and fails once it is down', async () => {
    const prev = (await call(OURS, 'ADD', 'a', conf())).json;
    expect((await call(OURS, 'CHECK', 'a', conf('1.0.0', { prevResult: prev }))).code).toBe(0);
    await sb.exec('a', ['ip', 'addr', 'del', '::1/128', 'dev', 'lo']);
    const gone = await call(OURS, 'CHECK', 'a', conf('1.0.0', { prevResult: prev }));
    expect(gone.json).toMatchObject({ code: 999, msg: 'loopback address ::1/128 is missing from lo' });
    await sb.exec('a', ['ip', 'link', 'set', 'lo', 'down']);
    expect((await call(OURS, 'CHECK', 'a', conf())).json).toMatchObject({
      code: 999,
      msg: 'loopback interface is down',
    });
  });

  it('DEL sets lo down; DEL again, without CNI_NETNS and after the namespace is gone all succeed', async () => {
    await sb.addContainer('d', { loopbackUp: false });
    expect((await call(OURS, 'ADD', 'd', conf())).code).toBe(0);
    expect((await call(OURS, 'DEL', 'd', conf())).code).toBe(0);
    expect((await loState('d')).up).toBe(false);
    expect((await tcpEcho(sb, 'd', '127.0.0.1')).ok).toBe(false);
    expect((await call(OURS, 'DEL', 'd', conf())).code).toBe(0);
    expect((await call(OURS, 'DEL', 'd', conf(), '')).code).toBe(0);
    await sb.removeContainer('d');
    expect((await call(OURS, 'DEL', 'd', conf())).code).toBe(0);
  });

  it('ADD on a path that is not a network namespace fails and says so', async () => {
    const r = await call(OURS, 'ADD', 'x', conf(), sb.dir);
    // The reference's words for a path on another filesystem (statfs before open, issue 20 row 6).
    expect(r.json).toMatchObject({ code: 999 });
    expect((r.json as { msg: string }).msg).toMatch(
      new RegExp(`^failed to open netns "${sb.dir}": unknown FS magic on "${sb.dir}": [0-9a-f]+$`),
    );
    const missing = await call(OURS, 'ADD', 'x', conf(), '/run/netns/tscni-t-no-such-ns');
    expect(missing.json).toMatchObject({
      msg: 'failed to open netns "/run/netns/tscni-t-no-such-ns": no such file or directory',
    });
  });

  it('a non-loopback address on lo is refused, as the reference refuses it', async () => {
    await sb.addContainer('f');
    await sb.exec('f', ['ip', 'addr', 'add', '10.55.0.1/32', 'dev', 'lo']);
    const [ours, ref] = [await call(OURS, 'ADD', 'f', conf()), await call(REFERENCE, 'ADD', 'f', conf())];
    expect(ours.json).toMatchObject({ msg: 'loopback interface found with non-loopback address "10.55.0.1"' });
    expect(ref.json).toMatchObject({ msg: 'loopback interface found with non-loopback address "10.55.0.1"' });
  });
});

/**
 * The reference (v1.1.1) labels one 1.0.0-shaped result with whatever version was asked for and
 * always prints `"dns": {}`. We print each version's own shape, so results are compared by meaning:
 * the interface and the addresses.
 */
function meaning(json: unknown): { interfaces: unknown; addrs: string[] } {
  const r = json as {
    interfaces?: unknown;
    ips?: Array<{ address: string; interface?: number }>;
    ip4?: { ip: string };
    ip6?: { ip: string };
  };
  const addrs = r.ips ? r.ips.map((ip) => ip.address) : [r.ip4?.ip, r.ip6?.ip].filter((a): a is string => !!a);
  return { interfaces: r.interfaces ?? 'not in this version', addrs };
}

describe('differential: the reference loopback in the same kind of namespace', () => {
  it.each([...REFERENCE_VERSIONS])('%s: same addresses, same kernel state', async (version) => {
    const tag = version.replace(/\./g, '');
    const [o, r] = [`o${tag}`, `r${tag}`];
    await sb.addContainer(o, { loopbackUp: false });
    await sb.addContainer(r, { loopbackUp: false });
    const ours = await call(OURS, 'ADD', o, conf(version));
    const ref = await call(REFERENCE, 'ADD', r, conf(version));
    expect([ours.code, ref.code]).toEqual([0, 0]);
    expect((ours.json as { cniVersion: string }).cniVersion).toBe(version);
    expect((ref.json as { cniVersion: string }).cniVersion).toBe(version);
    const sandboxless = (j: unknown): unknown =>
      JSON.parse(JSON.stringify(j).replaceAll(nsPath(o), 'NS').replaceAll(nsPath(r), 'NS'));
    const m = meaning(sandboxless(ours.json));
    expect(m.addrs).toEqual(meaning(sandboxless(ref.json)).addrs);
    if (version >= '0.3.0') expect(m.interfaces).toEqual(meaning(sandboxless(ref.json)).interfaces);
    else expect((ours.json as { ip4: { ip: string } }).ip4.ip).toBe('127.0.0.1/8'); // the 0.2.0 shape
    expect(await loState(o)).toEqual(await loState(r));
    // Each DEL undoes the other's ADD.
    expect((await call(OURS, 'DEL', r, conf(version))).code).toBe(0);
    expect((await call(REFERENCE, 'DEL', o, conf(version))).code).toBe(0);
    expect(await loState(o)).toEqual(await loState(r));
    expect((await loState(o)).up).toBe(false);
  });

  it('1.1.0: ours answers (the reference v1.1.1 does not speak it)', async () => {
    await sb.addContainer('o110', { loopbackUp: false });
    const r = await call(OURS, 'ADD', 'o110', conf('1.1.0'));
    expect(r.json).toMatchObject({ cniVersion: '1.1.0', ips: [{ address: '127.0.0.1/8' }, { address: '::1/128' }] });
  });

  it.each([
    [
      '0.4.0',
      {
        cniVersion: '0.4.0',
        interfaces: [{ name: 'eth0', mac: '0a:00:00:00:00:01', sandbox: '/x' }],
        ips: [{ version: '4', interface: 0, address: '10.0.0.2/24', gateway: '10.0.0.1' }],
        routes: [{ dst: '0.0.0.0/0' }],
        dns: { nameservers: ['10.0.0.53'] },
      },
    ],
    ['0.2.0', { cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24', gateway: '10.0.0.1' }, dns: {} }],
    [
      '1.0.0',
      {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'eth0', sandbox: '/x' }],
        ips: [{ interface: 0, address: '10.0.0.2/24' }],
      },
    ],
  ])(
    'chained at %s: the previous result passes through unchanged, as the reference passes it',
    async (version, prev) => {
      await sb.addContainer(`p${version.replace(/\./g, '')}`, { loopbackUp: false });
      const ctr = `p${version.replace(/\./g, '')}`;
      const ours = await call(OURS, 'ADD', ctr, conf(version, { prevResult: prev }));
      const ref = await call(REFERENCE, 'ADD', ctr, conf(version, { prevResult: prev }));
      expect(ours.json).toEqual(prev);
      const refJson = ref.json as Record<string, unknown>;
      if (version === '1.0.0') delete refJson['dns']; // v1.1.1's empty "dns": {}
      expect(ours.json).toEqual(refJson);
      expect((await loState(ctr)).up).toBe(true);
    },
  );

  it('a prevResult of another version family is refused by both', async () => {
    await sb.addContainer('px');
    const c = conf('1.0.0', { prevResult: { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.2/24' }] } });
    const [ours, ref] = [await call(OURS, 'ADD', 'px', c), await call(REFERENCE, 'ADD', 'px', c)];
    expect(ours.code).toBe(1);
    expect(ref.code).toBe(1);
    expect((ours.json as { msg: string }).msg).toBe('could not parse prevResult');
  });
});

describe("containerd's CRI networks: loopback (lo) and the pod network (eth0) for every pod", () => {
  it.each(['0.3.1', '1.0.0'])('loopback at %s, then bridge: both work, CHECK, DEL', async (loVersion) => {
    const tag = loVersion.replace(/\./g, '');
    const ctr = `cri${tag}`;
    const netns = await sb.addContainer(ctr, { loopbackUp: false });
    const dir = join(sb.dir, `cri${tag}`);
    mkdirSync(join(dir, 'net.d'), { recursive: true });
    // What containerd writes for its loopback network, and a pod network like its default.
    writeFileSync(
      join(dir, 'net.d', '99-loopback.conflist'),
      JSON.stringify({ cniVersion: loVersion, name: 'cni-loopback', plugins: [{ type: 'loopback' }] }),
    );
    writeFileSync(
      join(dir, 'net.d', '10-containerd-net.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: `pods${tag}`,
        plugins: [
          {
            type: 'bridge',
            bridge: `cri${tag}`,
            isGateway: true,
            ipMasq: true,
            ipam: { type: 'host-local', subnet: `10.56.${Number(tag) % 200}.0/24`, dataDir: join(dir, 'ipam') },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      }),
    );
    const env = [
      `NETCONFPATH=${join(dir, 'net.d')}`,
      `CNI_PATH=${BIN_DIR}`,
      `CNI_CACHE_DIR=${join(dir, 'cache')}`,
      'CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc',
    ];
    const tscni = (...args: string[]): Promise<RunResult> =>
      sb.exec('host', ['env', ...env, join(BIN_DIR, 'tscni'), ...args]);
    const lo = await tscni('add', 'cni-loopback', netns, '-i', 'lo');
    expect(lo.stderr).toBe('');
    expect(JSON.parse(lo.stdout)).toMatchObject({ cniVersion: loVersion });
    const pod = await tscni('add', `pods${tag}`, netns, '-i', 'eth0');
    expect(pod.stderr).toBe('');
    const gw = `10.56.${Number(tag) % 200}.1`;
    expect((await sb.exec(ctr, ['ping', '-c1', '-W2', gw])).code).toBe(0);
    expect((await tcpEcho(sb, ctr, '127.0.0.1')).ok).toBe(true);
    const check = await tscni('check', 'cni-loopback', netns, '-i', 'lo');
    // libcni runs CHECK only for lists of 0.4.0 and later.
    if (loVersion >= '0.4.0') expect(check.code).toBe(0);
    else expect(check.stderr).toContain('does not support the CHECK command');
    expect((await tscni('check', `pods${tag}`, netns, '-i', 'eth0')).code).toBe(0);
    expect((await tscni('del', `pods${tag}`, netns, '-i', 'eth0')).code).toBe(0);
    expect((await tscni('del', 'cni-loopback', netns, '-i', 'lo')).code).toBe(0);
    expect((await loState(ctr)).up).toBe(false);
    expect((await sb.exec(ctr, ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
  });
});
