/**
 * host-device's verbs against recording fakes (no root): every netlink request in the host and
 * the container namespace, every sysctl and program, as golden text — ADD by name with IPAM, a
 * failure after the move (all undone), DEL with the device in the container, DEL after the
 * namespace died and the kernel gave the device back under its container name, ADD through a
 * PCI address in a fake sysfs, and a DPDK device (nothing moved). Plus what the record holds.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RecordingRunner } from '../../lib/exec/recording';
import type { Kernel } from '../../lib/net/kernel';
import { IFF_UP } from '../../lib/netlink/constants';
import { cannedLink, RecordingSocket, reply, type CannedLink } from '../../lib/netlink/fake';
import { fakeKernel, planDir, type PlanDir } from '../../lib/testutil/fake-kernel';
import { expectGolden } from '../../lib/testutil/golden';
import { callVerb } from '../../lib/testutil/verbs';
import { add } from './add';
import { del } from './del';

const IPAM_RESULT = JSON.stringify({
  cniVersion: '1.0.0',
  ips: [
    { address: '192.168.64.5/24', gateway: '192.168.64.1' },
    { address: 'fd00:64::5/64', gateway: 'fd00:64::1' },
  ],
  routes: [{ dst: '10.64.0.0/16' }],
});
const HD0: CannedLink = { index: 5, name: 'hd0', mac: '02:00:00:00:64:05', flags: IFF_UP, alias: 'uplink to tor 3' };

let d: PlanDir;
let dir: string;
let netns: string;
let sysfs: string;
beforeEach(() => {
  d = planDir(['static']); // the IPAM plugin the runner "runs"
  dir = d.dir;
  netns = d.netns;
  sysfs = join(dir, 'sys');
});
afterEach(() => d.remove());

const conf = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'hdnet',
  type: 'host-device',
  device: 'hd0',
  dataDir: join(dir, 'records'),
  ipam: { type: 'static' },
  ...extra,
});
const records = (): string[] => {
  try {
    return readdirSync(join(dir, 'records', 'hdnet'));
  } catch {
    return [];
  }
};
const call = (verb: 'ADD' | 'DEL', kernel: Kernel, c: object, ns = netns): ReturnType<typeof callVerb> =>
  callVerb({ add: (inv) => add(inv, kernel, sysfs), del: (inv) => del(inv, kernel) }, verb, c, {
    netns: ns,
    ifname: 'net1',
    env: { CNI_PATH: dir },
  });

describe('host-device ADD plan', () => {
  it('by name: one request moves, renames, aliases and raises it; IPAM configures it; the record comes first', async () => {
    const host = new RecordingSocket().respond(reply.messages(cannedLink(HD0)));
    const moved = cannedLink({ ...HD0, index: 2, name: 'net1', alias: 'hd0' });
    const ctr = new RecordingSocket().respond(
      reply.error('ENODEV'), // no net1 in the container yet
      reply.messages(moved), // net1 after the move
      reply.messages(moved), // net1 for configuring
    );
    const runner = new RecordingRunner().on((c) => c.tool === 'plugin', { stdout: IPAM_RESULT });
    const k = fakeKernel({ host, ctr, runner });
    const out = await call('ADD', k.kernel, conf());
    expect(out.json['msg']).toBeUndefined();
    expect(out.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'net1', mac: '02:00:00:00:64:05', sandbox: netns }],
      ips: [
        { interface: 0, address: '192.168.64.5/24', gateway: '192.168.64.1' },
        { interface: 0, address: 'fd00:64::5/64', gateway: 'fd00:64::1' },
      ],
      routes: [{ dst: '10.64.0.0/16' }],
    });
    const rec = JSON.parse(readFileSync(join(dir, 'records', 'hdnet', 'c1_net1.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(rec).toMatchObject({
      network: 'hdnet',
      containerId: 'c1',
      ifName: 'net1',
      netns,
      hostName: 'hd0',
      mac: '02:00:00:00:64:05',
      alias: 'uplink to tor 3',
      up: true,
      dpdk: false,
    });
    expectGolden(__dirname, 'add-by-name', k.plan({ cniPath: dir, keepMacs: true }));
  });

  it('a failure after the move: lease released, device moved back as it was, no record', async () => {
    const host = new RecordingSocket().respond(reply.messages(cannedLink(HD0)), reply.ack(), reply.error('ENODEV'));
    const moved = cannedLink({ ...HD0, index: 2, name: 'net1', alias: 'hd0' });
    const ctr = new RecordingSocket().respond(
      reply.error('ENODEV'), // no net1 yet
      reply.messages(moved), // after the move
      reply.messages(moved), // configure: lookup
      reply.error('EADDRNOTAVAIL', 'injected'), // the first address
      reply.messages(moved), // rollback: find it (as net1)
    );
    const runner = new RecordingRunner().on((c) => c.tool === 'plugin', { stdout: IPAM_RESULT });
    const k = fakeKernel({ host, ctr, runner });
    const out = await call('ADD', k.kernel, conf());
    expect(out.json).toMatchObject({ code: 999, msg: expect.stringContaining('EADDRNOTAVAIL') });
    expect(records()).toEqual([]);
    expectGolden(__dirname, 'add-rollback', k.plan({ cniPath: dir, keepMacs: true }));
  });

  it('by PCI address (fake sysfs): the first device under its net directory', async () => {
    mkdirSync(join(sysfs, 'bus/pci/devices/0000:03:00.1/net/ens1f1'), { recursive: true });
    const host = new RecordingSocket().respond(
      reply.messages(cannedLink({ index: 7, name: 'ens1f1', mac: '02:00:00:00:03:01' })),
    );
    const ctr = new RecordingSocket().respond(
      reply.error('ENODEV'),
      reply.messages(cannedLink({ index: 7, name: 'net1', mac: '02:00:00:00:03:01', alias: 'ens1f1' })),
    );
    const k = fakeKernel({ host, ctr });
    const out = await call('ADD', k.kernel, conf({ device: undefined, pciBusID: '0000:03:00.1', ipam: {} }));
    expect(out.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'net1', mac: '02:00:00:00:03:01', sandbox: netns }],
    });
    expectGolden(__dirname, 'add-by-pci', k.plan({ keepMacs: true }));
  });

  it('a DPDK device (vfio-pci): nothing moved, the result names the interface, IPAM still runs', async () => {
    const dev = join(sysfs, 'bus/pci/devices/0000:03:00.2');
    mkdirSync(join(sysfs, 'bus/pci/drivers/vfio-pci'), { recursive: true });
    mkdirSync(dev, { recursive: true });
    symlinkSync(join(sysfs, 'bus/pci/drivers/vfio-pci'), join(dev, 'driver'));
    const host = new RecordingSocket();
    const ctr = new RecordingSocket();
    const runner = new RecordingRunner().on((c) => c.tool === 'plugin', { stdout: IPAM_RESULT });
    const { kernel } = fakeKernel({ host, ctr, runner });
    const out = await call('ADD', kernel, conf({ device: undefined, runtimeConfig: { deviceID: '0000:03:00.2' } }));
    expect(out.json).toMatchObject({ interfaces: [{ name: 'net1', sandbox: netns }], ips: expect.any(Array) });
    expect([...host.requests, ...ctr.requests]).toEqual([]);
    expect(records()).toEqual([]);
  });
});

describe('host-device DEL plan', () => {
  const record = (extra: Record<string, unknown> = {}): void => {
    mkdirSync(join(dir, 'records', 'hdnet'), { recursive: true });
    writeFileSync(
      join(dir, 'records', 'hdnet', 'c1_net1.json'),
      JSON.stringify({
        network: 'hdnet',
        containerId: 'c1',
        ifName: 'net1',
        netns,
        netnsInode: 1,
        dpdk: false,
        hostName: 'hd0',
        mac: '02:00:00:00:64:05',
        alias: 'uplink to tor 3',
        up: true,
        ...extra,
      }),
    );
  };

  it('the device in the container: one request brings it back with its name, alias and up state', async () => {
    record();
    const host = new RecordingSocket().respond(reply.error('ENODEV')); // hd0 is free in the host
    const ctr = new RecordingSocket().respond(
      reply.messages(cannedLink({ ...HD0, index: 2, name: 'net1', alias: 'hd0' })),
    );
    const k = fakeKernel({ host, ctr });
    const out = await call('DEL', k.kernel, conf());
    expect(out.code).toBe(0);
    expect(records()).toEqual([]);
    expectGolden(__dirname, 'del', k.plan({ cniPath: dir, keepMacs: true }));
  });

  it('the namespace died and the kernel gave the device back as net1: renamed to hd0', async () => {
    record({ netns: join(dir, 'gone') });
    const host = new RecordingSocket().respond(
      reply.dump([
        cannedLink({ index: 1, name: 'lo' }),
        cannedLink({ index: 9, name: 'net1', mac: '02:00:00:00:64:05', alias: 'hd0' }),
      ]),
    );
    const ctr = new RecordingSocket();
    const k = fakeKernel({ host, ctr });
    const out = await call('DEL', k.kernel, conf(), join(dir, 'gone'));
    expect(out.code).toBe(0);
    expect(ctr.requests).toEqual([]);
    expect(records()).toEqual([]);
    expectGolden(__dirname, 'del-recover', k.plan({ cniPath: dir, keepMacs: true }));
  });

  it('a name taken in the host: the device stays in the container, the record stays, DEL fails', async () => {
    record();
    const host = new RecordingSocket().respond(reply.messages(cannedLink({ index: 3, name: 'hd0' })));
    const ctr = new RecordingSocket().respond(
      reply.messages(cannedLink({ ...HD0, index: 2, name: 'net1', alias: 'hd0' })),
    );
    const { kernel } = fakeKernel({ host, ctr });
    const out = await call('DEL', kernel, conf());
    expect(out.json).toMatchObject({
      code: 999,
      msg: 'failed to move net1 back as "hd0": the host already has a link of that name',
    });
    expect(records()).toEqual(['c1_net1.json']);
  });
});
