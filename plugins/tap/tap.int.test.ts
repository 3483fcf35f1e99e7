/**
 * tap against the real kernel, in a sandbox: the shipped executable makes a persistent tap in a
 * container's namespace with every option, and what the kernel then reports (`ip -j -d link`)
 * is checked key by key. A guest stand-in (tap.driver.ts, compiled with Bun), dropped to the
 * tap's owner and group, attaches to it and exchanges frames with the bridge behind it (ARP
 * request out, reply back); another user, or a queue mode that does not match, is refused by the
 * kernel. Then CHECK, DEL, rollback and bad input. (tun/tap is one of the link types this
 * project's test kernel has.)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REPO_ROOT, Sandbox, runOk, type RunResult } from '../../lib/testutil/sandbox';

const TAP = join(BIN_DIR, 'tap');
const BUN = join(REPO_ROOT, 'node_modules', '.bin', 'bun');
// IDs with no passwd/group entry, so `ip -j` prints them as numbers.
const UID = 40001;
const GID = 40002;
const GUEST_MAC = '02:00:00:00:aa:01';

let sb: Sandbox;
let cniPath = '';
let driver = '';

interface LinkJson {
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}
interface DriverReply {
  ok: boolean;
  stage?: string;
  errno?: string;
  targetMac?: string;
}

const errorOf = (r: RunResult): { code: number; msg: string; details?: string } =>
  r.json as { code: number; msg: string; details?: string };
const netnsOf = (ctr: string): string => `/run/netns/${sb.nsName(ctr)}`;
const leases = (net: string): string[] => {
  const d = join(sb.dir, 'ipam', net);
  return existsSync(d)
    ? readdirSync(d)
        .filter((f) => /^\d+\.\d+\.\d+\.\d+$|:/.test(f))
        .sort()
    : [];
};

function conf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: 'tapnet', type: 'tap', ...extra };
}
const ipam = (): Record<string, unknown> => ({
  type: 'host-local',
  ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]],
  dataDir: join(sb.dir, 'ipam'),
  routes: [{ dst: '10.78.0.0/16' }, { dst: 'fd78::/64' }],
});

function plugin(command: string, ctr: string, config: unknown, o: { ifName?: string; netns?: string } = {}) {
  return sb.runPlugin(
    TAP,
    { command, containerId: `id-${ctr}`, netns: o.netns ?? netnsOf(ctr), ifName: o.ifName ?? 'tap0', path: cniPath },
    config,
  );
}

async function link(ctr: string, name = 'tap0'): Promise<LinkJson | undefined> {
  const r = await sb.exec(ctr, ['ip', '-j', '-d', 'link', 'show', 'dev', name]);
  return r.code === 0 ? (r.json as LinkJson[])[0] : undefined;
}

async function guest(ctr: string, o: Partial<{ uid: number; gid: number; multiQueue: boolean }>): Promise<DriverReply> {
  const args = {
    name: 'tap0',
    multiQueue: true,
    mac: GUEST_MAC,
    ip: '192.168.77.2',
    target: '192.168.77.1',
    timeoutMs: 15_000,
    ...o,
  };
  const r = await sb.exec(ctr, [driver, JSON.stringify(args)]);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as DriverReply;
}

beforeAll(async () => {
  sb = await Sandbox.create('tap');
  cniPath = join(sb.dir, 'cni-bin');
  mkdirSync(cniPath);
  symlinkSync(join(BIN_DIR, 'host-local'), join(cniPath, 'host-local'));
  driver = join(sb.dir, 'tapdriver');
  await runOk([BUN, 'build', '--compile', '--minify', join(__dirname, 'tap.driver.ts'), '--outfile', driver]);
});
afterAll(async () => sb?.destroy());

describe('a VM runtime’s tap: every option, then a guest on it', () => {
  let result: Record<string, unknown> = {};
  const full = (): Record<string, unknown> =>
    conf({ mac: '02:00:00:00:00:77', mtu: 1400, multiQueue: true, owner: UID, group: GID, bridge: 'br0' });

  beforeAll(async () => {
    await sb.addContainer('vm');
    // The runtime's bridge inside the pod's namespace, with an address the guest can ARP for.
    await sb.exec('vm', ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await sb.exec('vm', ['ip', 'addr', 'add', '192.168.77.1/24', 'dev', 'br0']);
    await sb.exec('vm', ['ip', 'link', 'set', 'br0', 'up']);
  });

  it('ADD returns the tap with its MAC in the container', async () => {
    const r = await plugin('ADD', 'vm', full());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    result = r.json as Record<string, unknown>;
    expect(result).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'tap0', mac: '02:00:00:00:00:77', sandbox: netnsOf('vm') }],
    });
  });

  it('the kernel reports a persistent multi-queue tap with that owner, group, MTU and MAC, up, a port of br0', async () => {
    const l = await link('vm');
    expect(l).toMatchObject({ ifname: 'tap0', mtu: 1400, address: '02:00:00:00:00:77', master: 'br0' });
    expect(l?.flags).toContain('UP');
    expect(l?.flags).toContain('NO-CARRIER'); // nothing attached yet
    expect(l?.linkinfo).toMatchObject({
      info_kind: 'tun',
      info_data: { type: 'tap', pi: false, multi_queue: true, persist: true, user: UID, group: GID },
    });
  });

  it('the guest, as the tap’s owner and group and without privileges, attaches and exchanges frames with the bridge', async () => {
    const br = await link('vm', 'br0');
    const g = await guest('vm', { uid: UID, gid: GID });
    expect(g).toMatchObject({ ok: true, targetMac: br?.address });
  });

  it('another user is refused by the kernel (EPERM); a single-queue attach to a multi-queue tap too (EINVAL)', async () => {
    expect(await guest('vm', { uid: UID + 10, gid: GID + 10 })).toEqual({ ok: false, stage: 'attach', errno: 'EPERM' });
    expect(await guest('vm', { uid: UID, gid: GID, multiQueue: false })).toEqual({
      ok: false,
      stage: 'attach',
      errno: 'EINVAL',
    });
  });

  it('the tap outlives its guest (persistent) and CHECK passes on it', async () => {
    expect((await link('vm'))?.flags).toContain('NO-CARRIER');
    expect((await plugin('CHECK', 'vm', { ...full(), prevResult: result })).code).toBe(0);
  });

  it('CHECK fails once the tap is out of the bridge, or a single-queue tap is configured', async () => {
    expect(errorOf(await plugin('CHECK', 'vm', { ...full(), multiQueue: false, prevResult: result })).msg).toBe(
      'tap tap0 multi-queue is true, configured false',
    );
    await sb.exec('vm', ['ip', 'link', 'set', 'tap0', 'nomaster']);
    expect(errorOf(await plugin('CHECK', 'vm', { ...full(), prevResult: result })).msg).toBe(
      'tap tap0 is not a port of bridge br0',
    );
  });

  it('a second ADD of the same name fails (never attaches to the existing tap) and leaves it alone', async () => {
    const r = await plugin('ADD', 'vm', full());
    expect(errorOf(r)).toMatchObject({
      code: 999,
      msg: 'failed to create tap: interface "tap0" already exists in the container',
    });
    expect(await link('vm')).toBeDefined();
  });

  it('DEL removes the tap; DEL again and without a namespace succeed', async () => {
    expect((await plugin('DEL', 'vm', full())).code).toBe(0);
    expect(await link('vm')).toBeUndefined();
    expect((await plugin('DEL', 'vm', full())).code).toBe(0);
    expect((await plugin('DEL', 'vm', full(), { netns: '' })).code).toBe(0);
  });
});

describe('tap with IPAM', () => {
  it('dual-stack addresses and routes on the tap (no carrier: no DAD wait); arp_notify; CHECK; DEL releases the leases', async () => {
    await sb.addContainer('l3');
    const c = conf({ ipam: ipam(), dns: { nameservers: ['10.77.0.53'] } });
    const r = await plugin('ADD', 'l3', c);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({
      interfaces: [{ name: 'tap0', sandbox: netnsOf('l3') }],
      ips: [
        { interface: 0, address: '10.77.0.2/24', gateway: '10.77.0.1' },
        { interface: 0, address: 'fd77::2/64', gateway: 'fd77::1' },
      ],
      routes: [{ dst: '10.78.0.0/16' }, { dst: 'fd78::/64' }],
      dns: { nameservers: ['10.77.0.53'] },
    });
    const addrs = await sb.exec('l3', ['ip', '-j', 'addr', 'show', 'dev', 'tap0']);
    expect(JSON.stringify(addrs.json)).toContain('"local":"10.77.0.2"');
    expect(JSON.stringify(addrs.json)).toContain('"local":"fd77::2"');
    const routes = await sb.exec('l3', ['ip', '-j', 'route', 'show', '10.78.0.0/16']);
    expect(routes.json).toMatchObject([{ dst: '10.78.0.0/16', gateway: '10.77.0.1', dev: 'tap0' }]);
    const routes6 = await sb.exec('l3', ['ip', '-j', '-6', 'route', 'show', 'fd78::/64']);
    expect(routes6.json).toMatchObject([{ dst: 'fd78::/64', gateway: 'fd77::1', dev: 'tap0' }]);
    expect((await sb.exec('l3', ['cat', '/proc/sys/net/ipv4/conf/tap0/arp_notify'])).stdout.trim()).toBe('1');
    expect(leases('tapnet')).toEqual(['10.77.0.2', 'fd77::2']);
    expect((await plugin('CHECK', 'l3', { ...c, prevResult: r.json })).code).toBe(0);
    expect((await plugin('DEL', 'l3', c)).code).toBe(0);
    expect(leases('tapnet')).toEqual([]);
    expect(await link('l3')).toBeUndefined();
  });

  it('a failure after the tap exists rolls back: no tap, no lease', async () => {
    await sb.addContainer('rb');
    // A route the kernel refuses: its gateway is in no subnet of the tap.
    const c = conf({ ipam: { ...ipam(), routes: [{ dst: '10.79.0.0/16', gw: '10.200.0.1' }] } });
    const r = await plugin('ADD', 'rb', c);
    expect(r.code).not.toBe(0);
    expect(errorOf(r).code).toBe(999);
    expect(await link('rb')).toBeUndefined();
    expect(leases('tapnet')).toEqual([]);
  });
});

describe('tap: bad input and the other verbs', () => {
  it('a missing bridge: the reference’s error, no tap left', async () => {
    await sb.addContainer('nb');
    const r = await plugin('ADD', 'nb', conf({ bridge: 'nobr0' }));
    expect(errorOf(r)).toMatchObject({ code: 999, msg: 'failed to get bridge nobr0: link not found' });
    expect(await link('nb')).toBeUndefined();
  });

  it('an MTU the kernel refuses: error, no tap left', async () => {
    const r = await plugin('ADD', 'nb', conf({ mtu: 70000 }));
    expect(errorOf(r).msg).toBe('failed to set the MTU or MAC of tap "tap0"');
    expect(await link('nb')).toBeUndefined();
  });

  it('code 7 for bad keys; code 2 for selinuxContext; a missing netns', async () => {
    expect(errorOf(await plugin('ADD', 'nb', conf({ owner: -1 }))).code).toBe(7);
    expect(errorOf(await plugin('ADD', 'nb', conf({ selinuxContext: 'x' }))).code).toBe(2);
    expect(errorOf(await plugin('ADD', 'nb', conf(), { netns: '/run/netns/tscni-t-none' })).msg).toMatch(
      /^failed to open netns/,
    );
  });

  it('STATUS and GC (1.1.0) answer, GC forwarded to IPAM', async () => {
    const c11 = conf({ cniVersion: '1.1.0', ipam: ipam() });
    expect((await sb.runPlugin(TAP, { command: 'STATUS', path: cniPath }, c11)).code).toBe(0);
    const gc = await sb.runPlugin(TAP, { command: 'GC', path: cniPath }, { ...c11, 'cni.dev/valid-attachments': [] });
    expect(gc.code).toBe(0);
  });
});
