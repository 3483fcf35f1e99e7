/**
 * host-device against the real kernel, in a sandbox. The "host devices" are veths whose peers
 * live in namespaces of the sandbox (this machine has no spare NIC, and a test must not touch
 * one): a container that gets one reaches the peer. Checked: the reference's result and kernel
 * state on a twin device (ADD, DEL), traffic, CHECK, DEL twice / without CNI_NETNS / after the
 * namespace died, the kernel's hand-back of a physical device simulated, rollback of a failed
 * ADD, the ways of naming a device and their errors, GC and STATUS.
 *
 * What a dying namespace does to a device: the kernel moves a physical device to the initial
 * namespace and deletes a virtual one — a veth goes with its peer. The tests use veths, so the
 * "namespace died" case shows the virtual outcome (gone, DEL still succeeds and cleans up) and
 * the physical outcome is simulated by moving the device to the sandbox host under its
 * container name, as the kernel does (name kept, alias kept), before the namespace is deleted.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { globalAddrs } from '../../lib/testutil/addresses';
import { BIN_DIR, REFERENCE_DIR, Sandbox, runOk, type RunResult } from '../../lib/testutil/sandbox';
import { pings } from '../../lib/testutil/traffic';
import { waitFor } from '../../lib/testutil/wait';

const OURS = join(BIN_DIR, 'host-device');
const REF = join(REFERENCE_DIR, 'host-device');
let sb: Sandbox;
let refPath = '';

type Json = Record<string, unknown>;
type IpLink = { ifname: string; address: string; flags: string[]; ifalias?: string; operstate: string };

beforeAll(async () => {
  sb = await Sandbox.create('hd');
  await sb.addContainer('peers');
  refPath = join(sb.dir, 'ref-bin');
  mkdirSync(refPath);
  for (const p of ['static', 'host-local']) symlinkSync(join(REFERENCE_DIR, p), join(refPath, p));
});
afterAll(async () => sb?.destroy());

let subnet = 64;
/** A "host device": a veth in the sandbox host, up with an address, its peer (with .1) in `peers`. */
async function hostDevice(name: string): Promise<{ name: string; mac: string; net: string }> {
  const net = `192.168.${subnet++}`;
  const peers = sb.nsName('peers');
  await runOk(['ip', '-n', sb.hostNs, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`, 'netns', peers]);
  await runOk(['ip', '-n', peers, 'addr', 'add', `${net}.1/24`, 'dev', `${name}p`]);
  await runOk(['ip', '-n', peers, 'link', 'set', `${name}p`, 'up']);
  await runOk(['ip', '-n', sb.hostNs, 'addr', 'add', `${net}.250/24`, 'dev', name]);
  await runOk(['ip', '-n', sb.hostNs, 'link', 'set', name, 'up']);
  const mac = ((await sb.exec('host', ['ip', '-j', 'link', 'show', name])).json as IpLink[])[0]?.address ?? '';
  return { name, mac, net };
}

const conf = (dev: { name: string; net: string }, extra: Json = {}, ipam: Json | null = {}): Json => ({
  cniVersion: '1.0.0',
  name: 'hdnet',
  type: 'host-device',
  device: dev.name,
  ...(ipam === null
    ? {}
    : {
        ipam: {
          type: 'static',
          addresses: [{ address: `${dev.net}.5/24`, gateway: `${dev.net}.1` }],
          routes: [{ dst: '10.99.0.0/16' }],
          ...ipam,
        },
      }),
  ...extra,
});

interface CallOpts {
  exe?: string;
  netns?: string;
  ifName?: string;
  path?: string;
}
const call = (command: string, ctr: string, config: Json, o: CallOpts = {}): Promise<RunResult> =>
  sb.runPlugin(
    o.exe ?? OURS,
    {
      command,
      containerId: `id-${ctr}`,
      netns: o.netns ?? `/run/netns/${sb.nsName(ctr)}`,
      ifName: o.ifName ?? 'net1',
      path: o.path ?? (o.exe === REF ? refPath : BIN_DIR),
    },
    config,
  );

async function linkIn(where: string, name: string): Promise<IpLink | undefined> {
  const r = await sb.exec(where, ['ip', '-j', '-d', 'link', 'show', 'dev', name]);
  return r.code === 0 ? (r.json as IpLink[])[0] : undefined;
}
const recordsOf = (): string[] => {
  try {
    return readdirSync(join(sb.dir, 'tscni-state', 'host-device', 'hdnet'));
  } catch {
    return [];
  }
};
const errorOf = (r: RunResult): Json => r.json as Json;

describe('differential: the reference on a twin device', () => {
  it('same result and container state after ADD; back in the host without addresses after DEL', async () => {
    const devs = { ours: await hostDevice('hda'), ref: await hostDevice('hdb') };
    const seen: Record<string, Json> = {};
    for (const who of ['ours', 'ref'] as const) {
      const ctr = `d-${who}`;
      await sb.addContainer(ctr);
      const exe = who === 'ours' ? OURS : REF;
      const c = conf(devs[who]);
      const add = await call('ADD', ctr, c, { exe });
      expect(add.stdout).not.toContain('"code"');
      const link = await linkIn(ctr, 'net1');
      seen[who] = {
        result: JSON.parse(
          add.stdout
            .replace(new RegExp(sb.nsName(ctr), 'g'), 'NS')
            .split(devs[who].net)
            .join('NET')
            .replace(/"mac": "[^"]*"/g, '"mac": "M"')
            .replace(/,\s*"dns": \{\}/, ''),
        ),
        mac: link?.address === devs[who].mac,
        alias: link?.ifalias === devs[who].name,
        up: link?.flags.includes('UP'),
        addrs: (await globalAddrs(sb, ctr, 'net1')).map((a) => a.replace(devs[who].net, 'NET')),
        routes: (await sb.exec(ctr, ['ip', '-j', 'route', 'show'])).stdout.split(devs[who].net).join('NET'),
        hostSide: await linkIn('host', devs[who].name),
      };
      await waitFor(`a ping from ${ctr} to the device's peer`, () => pings(sb, ctr, `${devs[who].net}.1`, 1));
      expect((await call('CHECK', ctr, { ...c, prevResult: add.json })).code).toBe(0);
      expect((await call('DEL', ctr, c, { exe })).code).toBe(0);
      const back = await linkIn('host', devs[who].name);
      seen[who] = { ...seen[who], back: !!back, backAddrs: await globalAddrs(sb, 'host', devs[who].name) };
      seen[`${who}-back`] = { alias: back?.ifalias, up: back?.flags.includes('UP') };
      expect(await linkIn(ctr, 'net1')).toBeUndefined();
    }
    const { ['ours-back']: oursBack, ['ref-back']: refBack, ...same } = seen;
    expect(same['ours']).toEqual(same['ref']);
    expect(same['ours']).toMatchObject({
      mac: true,
      alias: true,
      up: true,
      hostSide: undefined,
      back: true,
      backAddrs: [],
    });
    // The device comes back as it left (up, its alias); v1.1.1 leaves it down with our alias on it.
    expect(oursBack).toEqual({ alias: undefined, up: true });
    expect(refBack).toEqual({ alias: 'hdb', up: false });
  });
});

describe('DEL: the device is never lost', () => {
  it('twice, and without CNI_NETNS while the container lives (the recorded namespace is used)', async () => {
    const dev = await hostDevice('hdc');
    await sb.addContainer('n1');
    expect((await call('ADD', 'n1', conf(dev))).code).toBe(0);
    expect(recordsOf()).toEqual(['id-n1_net1.json']);
    expect((await call('DEL', 'n1', conf(dev), { netns: '' })).code).toBe(0);
    expect(await linkIn('host', 'hdc')).toBeDefined();
    expect(await linkIn('n1', 'net1')).toBeUndefined();
    expect(recordsOf()).toEqual([]);
    expect((await call('DEL', 'n1', conf(dev))).code).toBe(0);
    // The reference's second DEL fails, and without CNI_NETNS it leaves the device in the container.
    expect((await call('ADD', 'n1', conf(dev), { exe: REF })).code).toBe(0);
    expect((await call('DEL', 'n1', conf(dev), { exe: REF, netns: '' })).code).toBe(0);
    expect(await linkIn('n1', 'net1')).toBeDefined();
    expect((await call('DEL', 'n1', conf(dev), { exe: REF })).code).toBe(0);
    expect(errorOf(await call('DEL', 'n1', conf(dev), { exe: REF }))).toMatchObject({
      msg: 'failed to find "net1": Link not found',
    });
    // Ours takes back a device the reference moved in (by its alias).
    expect((await call('ADD', 'n1', conf(dev), { exe: REF })).code).toBe(0);
    expect((await call('DEL', 'n1', conf(dev))).code).toBe(0);
    expect(await linkIn('host', 'hdc')).toBeDefined();
  });

  it('after the namespace died with a veth inside: gone with it (as the kernel does), DEL succeeds and releases the lease', async () => {
    const dev = await hostDevice('hdd');
    await sb.addContainer('n2');
    const hl = {
      type: 'host-local',
      subnet: `${dev.net}.0/24`,
      rangeStart: `${dev.net}.10`,
      dataDir: join(sb.dir, 'ipam'),
    };
    const c = { ...conf(dev, {}, null), ipam: hl };
    expect((await call('ADD', 'n2', c)).code).toBe(0);
    expect(readdirSync(join(sb.dir, 'ipam', 'hdnet'))).toContain(`${dev.net}.10`);
    await sb.removeContainer('n2');
    // The veth dies with the namespace and takes its peer along — in the kernel's own time: a
    // namespace is torn down by a deferred work item, which a busy machine runs later.
    await waitFor(
      'the veth peer to go with the dead namespace',
      async () => (await linkIn('peers', 'hddp')) === undefined,
    );
    const del = await call('DEL', 'n2', c);
    expect(del.code).toBe(0);
    expect(del.stderr).toContain('hdd');
    expect(readdirSync(join(sb.dir, 'ipam', 'hdnet'))).not.toContain(`${dev.net}.10`);
    expect(recordsOf()).toEqual([]);
    // The reference fails that DEL (and so never releases the lease).
    const ref = await call('DEL', 'n2', c, { exe: REF });
    expect(errorOf(ref)['msg']).toMatch(/^failed to open netns/);
  });

  it('the container renamed the device: found by its MAC and brought back', async () => {
    const dev = await hostDevice('hdm');
    await sb.addContainer('n4');
    expect((await call('ADD', 'n4', conf(dev))).code).toBe(0);
    await runOk(['ip', '-n', sb.nsName('n4'), 'link', 'set', 'net1', 'down']);
    await runOk(['ip', '-n', sb.nsName('n4'), 'link', 'set', 'net1', 'name', 'renamed0']);
    expect((await call('DEL', 'n4', conf(dev))).code).toBe(0);
    expect(await linkIn('host', 'hdm')).toMatchObject({ address: dev.mac });
    expect(await linkIn('n4', 'renamed0')).toBeUndefined();
    expect(recordsOf()).toEqual([]);
  });

  it.each([
    ['under its container name', 'net1'],
    ['as dev<index>, its container name being taken', 'dev'],
  ])('a physical device the kernel handed back %s is renamed to its host name', async (_name, how) => {
    const dev = await hostDevice(how === 'net1' ? 'hde' : 'hdf');
    const ctr = `n3${how}`;
    await sb.addContainer(ctr);
    expect((await call('ADD', ctr, conf(dev))).code).toBe(0);
    const index = ((await sb.exec(ctr, ['ip', '-j', 'link', 'show', 'net1'])).json as Array<{ ifindex: number }>)[0]
      ?.ifindex;
    // What the kernel does to a physical device when the namespace dies: to the host, name and alias kept.
    await runOk(['ip', '-n', sb.nsName(ctr), 'link', 'set', 'net1', 'netns', sb.hostNs]);
    if (how === 'dev') await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'net1', 'name', `dev${index ?? 0}`]);
    await sb.removeContainer(ctr);
    expect((await call('DEL', ctr, conf(dev))).code).toBe(0);
    const back = await linkIn('host', dev.name);
    expect(back).toMatchObject({ address: dev.mac });
    expect(back?.ifalias).toBeUndefined();
    expect(back?.flags).toContain('UP');
    expect(recordsOf()).toEqual([]);
  });
});

describe('ADD: a failure leaves the device where it was', () => {
  it('the container already has net1: a clear error, the device untouched (v1.1.1 strands it in the container)', async () => {
    const devs = { ours: await hostDevice('hdg'), ref: await hostDevice('hdh') };
    for (const who of ['ours', 'ref'] as const) {
      const ctr = `f-${who}`;
      await sb.addContainer(ctr);
      await runOk(['ip', '-n', sb.nsName(ctr), 'link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'x1']);
    }
    const ours = await call('ADD', 'f-ours', conf(devs.ours));
    expect(errorOf(ours)).toMatchObject({
      code: 999,
      msg: 'failed to move link: the container already has an interface named "net1"',
    });
    expect(await globalAddrs(sb, 'host', 'hdg')).toEqual([`${devs.ours.net}.250/24`]);
    expect(recordsOf()).toEqual([]);
    expect((await call('ADD', 'f-ref', conf(devs.ref), { exe: REF })).code).not.toBe(0);
    expect(await linkIn('host', 'hdh')).toBeUndefined();
    expect(await linkIn('f-ref', 'hdh')).toBeDefined();
  });

  it('IPAM or addressing fails after the move: back under its name, up as before, no record', async () => {
    const dev = await hostDevice('hdi');
    await sb.addContainer('f2');
    const bad = conf(dev, {}, { routes: [{ dst: '10.98.0.0/16', gw: '203.0.113.1' }] });
    const r = await call('ADD', 'f2', bad);
    expect(r.code).not.toBe(0);
    const back = await linkIn('host', 'hdi');
    expect(back?.flags).toContain('UP');
    expect(back?.ifalias).toBeUndefined();
    expect(await linkIn('f2', 'net1')).toBeUndefined();
    expect(recordsOf()).toEqual([]);
  });
});

describe('naming the device', () => {
  let errorCase = 0;
  it('by hwaddr (any spelling Go accepts)', async () => {
    const dev = await hostDevice('hdj');
    await sb.addContainer('m1');
    const c = { ...conf(dev, {}, null), device: undefined, hwaddr: dev.mac.toUpperCase().replace(/:/g, '-') };
    const r = await call('ADD', 'm1', c);
    expect(r.json).toMatchObject({ interfaces: [{ name: 'net1', mac: dev.mac }] });
    expect((await call('DEL', 'm1', c)).code).toBe(0);
    expect(await linkIn('host', 'hdj')).toBeDefined();
  });

  it.each<[string, Json, RegExp]>([
    ['no key', {}, /^specify either "device", "hwaddr", "kernelpath" or "pciBusID"$/],
    ['an unknown device', { device: 'nope0' }, /^failed to find host device: Link not found$/],
    ['an unknown pciBusID', { pciBusID: '0000:ff:1f.7' }, /^no PCI device 0000:ff:1f.7 on this host/],
    ['a pciBusID that is a path', { pciBusID: '../../../etc' }, /^invalid pciBusID/],
    [
      'an unknown deviceID',
      { runtimeConfig: { deviceID: '0000:ff:1f.7' } },
      /^runtime config DeviceID 0000:ff:1f.7 not found/,
    ],
    [
      'an unknown kernelpath',
      { kernelpath: '/sys/devices/pci0000:ff/0000:ff:1f.7' },
      /kernelpath "\/sys\/devices\/pci0000:ff\/0000:ff:1f.7" does not exist$/,
    ],
    [
      'a kernelpath outside /sys/devices',
      { kernelpath: '/sys/devices/../../etc' },
      /must be absolute and begin with \/sys\/devices\/$/,
    ],
    [
      'a device without a network device',
      { kernelpath: '/sys/devices/virtual/net/lo/queues' },
      /has no network device/,
    ],
    ['a bad hwaddr', { hwaddr: 'zz' }, /failed to parse MAC address "zz"/],
  ])('%s: a clear error, nothing moved', async (_name, keys, msg) => {
    const ctr = `e${++errorCase}`;
    await sb.addContainer(ctr);
    const r = await call('ADD', ctr, { cniVersion: '1.0.0', name: 'hdnet', type: 'host-device', ...keys });
    expect(String(errorOf(r)['msg'])).toMatch(msg);
    const links = (await sb.exec(ctr, ['ip', '-j', 'link'])).json as IpLink[];
    expect(links.map((l) => l.ifname)).toEqual(['lo']);
  });
});

describe('GC and STATUS (cniVersion 1.1.0)', () => {
  it('GC brings back the devices of attachments that are no longer valid, and keeps the valid ones', async () => {
    const keep = await hostDevice('hdk');
    const stale = await hostDevice('hdl');
    for (const [ctr, dev] of [
      ['g1', keep],
      ['g2', stale],
    ] as const) {
      await sb.addContainer(ctr);
      expect((await call('ADD', ctr, { ...conf(dev), cniVersion: '1.1.0' })).code).toBe(0);
    }
    const gc = await sb.runPlugin(
      OURS,
      { command: 'GC', path: BIN_DIR },
      { ...conf(keep), cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'id-g1', ifname: 'net1' }] },
    );
    expect(gc.code).toBe(0);
    expect(await linkIn('host', 'hdl')).toBeDefined();
    expect(await linkIn('g2', 'net1')).toBeUndefined();
    expect(await linkIn('g1', 'net1')).toBeDefined();
    expect(recordsOf()).toEqual(['id-g1_net1.json']);
    const status = await sb.runPlugin(
      OURS,
      { command: 'STATUS', path: BIN_DIR },
      { ...conf(keep), cniVersion: '1.1.0' },
    );
    expect(status.code).toBe(0);
    expect((await call('DEL', 'g1', conf(keep))).code).toBe(0);
  });
});
