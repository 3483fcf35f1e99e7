/**
 * host-device configuration and device lookup (no root): which key wins, the path checks that
 * keep config names inside sysfs, runtimeConfig.deviceID as a PCI or an auxiliary device, and
 * finding the link under a fake sysfs.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniError } from '../../lib/cni/errors';
import { Rtnl } from '../../lib/netlink';
import { cannedLink, RecordingSocket, reply } from '../../lib/netlink/fake';
import { loadHostDeviceConfig, loadStateConfig } from './config';
import { findHostLink, isDpdk } from './device';

let sysfs: string;
beforeEach(() => {
  sysfs = mkdtempSync(join(tmpdir(), 'tscni-hd-sysfs-'));
});
afterEach(() => rmSync(sysfs, { recursive: true, force: true }));

const load = (keys: Record<string, unknown>): ReturnType<typeof loadHostDeviceConfig> =>
  loadHostDeviceConfig({ cniVersion: '1.0.0', name: 'n', type: 'host-device', ...keys }, {}, sysfs);
const codeOf = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof CniError ? e.code : -1;
  }
  return undefined;
};

describe('host-device config', () => {
  it('a name wins over a MAC, a kernel path and a PCI address (the reference order)', () => {
    const all = { device: 'eth1', hwaddr: '02:00:00:00:00:01', kernelpath: '/sys/devices/x', pciBusID: '0000:00:01.0' };
    expect(load(all).device).toEqual({ by: 'name', name: 'eth1' });
    expect(load({ ...all, device: undefined }).device).toEqual({ by: 'mac', mac: '02:00:00:00:00:01' });
    expect(load({ ...all, device: undefined, hwaddr: undefined }).device).toEqual({
      by: 'kernelpath',
      path: '/sys/devices/x',
    });
    expect(load({ pciBusID: '0000:00:01.0' }).device).toEqual({ by: 'pci', address: '0000:00:01.0' });
  });

  it('hwaddr in every spelling of Go, lower-cased', () => {
    for (const mac of ['02:AA:00:00:00:01', '02-aa-00-00-00-01', '02aa.0000.0001'])
      expect(load({ hwaddr: mac }).device).toEqual({ by: 'mac', mac: '02:aa:00:00:00:01' });
  });

  it('runtimeConfig.deviceID: a PCI device, else an auxiliary one, else the reference error', () => {
    mkdirSync(join(sysfs, 'bus/pci/devices/0000:03:00.1'), { recursive: true });
    mkdirSync(join(sysfs, 'bus/auxiliary/devices/mlx5_core.sf.2'), { recursive: true });
    expect(load({ pciBusID: '0000:09:00.0', runtimeConfig: { deviceID: '0000:03:00.1' } }).device).toEqual({
      by: 'pci',
      address: '0000:03:00.1',
    });
    expect(load({ runtimeConfig: { deviceID: 'mlx5_core.sf.2' } }).device).toEqual({
      by: 'auxiliary',
      name: 'mlx5_core.sf.2',
    });
    expect(() => load({ runtimeConfig: { deviceID: 'nope' } })).toThrow(
      'runtime config DeviceID nope not found or unsupported',
    );
  });

  it.each<[Record<string, unknown>, string]>([
    [{}, 'specify either "device", "hwaddr", "kernelpath" or "pciBusID"'],
    [{ kernelpath: 'sys/devices/x' }, 'must be absolute and begin with /sys/devices/'],
    [{ kernelpath: '/sys/devices/../../etc' }, 'must be absolute and begin with /sys/devices/'],
    [{ kernelpath: '/sys/class/net/eth0' }, 'must be absolute and begin with /sys/devices/'],
    [{ pciBusID: '../0000:00:01.0' }, 'invalid pciBusID'],
    [{ pciBusID: '..' }, 'invalid pciBusID'],
    [{ device: 'a/b' }, 'invalid device name'],
    [{ hwaddr: '02:00:00:00:00' }, 'failed to parse MAC address'],
    [{ device: 'eth1', dataDir: 'relative' }, 'invalid dataDir'],
  ])('%j is code 7: %s', (keys, msg) => {
    expect(() => load(keys)).toThrow(msg);
    expect(codeOf(() => load(keys))).toBe(7);
  });

  it('DEL reads only the IPAM type and the state directory', () => {
    const conf = { cniVersion: '1.0.0', name: 'n', ipam: { type: 'static' }, pciBusID: '../x' };
    expect(loadStateConfig(conf, { TSCNI_STATE_DIR: '/tmp/s' })).toEqual({
      ipamType: 'static',
      dataDir: '/tmp/s/host-device',
      ownDataDir: true,
    });
    expect(loadStateConfig(conf, {}).dataDir).toBe('/var/lib/cni/tscni/host-device');
    // A configured dataDir is the operator's: links in it are followed as theirs.
    expect(loadStateConfig({ ...conf, dataDir: '/srv/hd' }, {})).toMatchObject({
      dataDir: '/srv/hd',
      ownDataDir: false,
    });
  });
});

describe('finding the device', () => {
  const host = (...names: string[]): Rtnl => {
    const s = new RecordingSocket();
    for (const [i, n] of names.entries()) s.respond(reply.messages(cannedLink({ index: 10 + i, name: n })));
    return new Rtnl(s);
  };

  it('kernelpath and PCI address: the first device in the net directory; a virtio child’s', () => {
    mkdirSync(join(sysfs, 'devices/pci0000:00/0000:00:19.0/net/eno2'), { recursive: true });
    mkdirSync(join(sysfs, 'devices/pci0000:00/0000:00:19.0/net/eno1'), { recursive: true });
    mkdirSync(join(sysfs, 'bus/pci/devices/0000:00:03.0/virtio0/net/ens3'), { recursive: true });
    const byPath = load({ kernelpath: '/sys/devices/pci0000:00/0000:00:19.0' }).device;
    expect(findHostLink(host('eno1'), byPath, sysfs).name).toBe('eno1');
    expect(findHostLink(host('ens3'), { by: 'pci', address: '0000:00:03.0' }, sysfs).name).toBe('ens3');
  });

  it('clear errors: no such PCI device, a device with no net directory, or an empty one', () => {
    mkdirSync(join(sysfs, 'bus/pci/devices/0000:00:04.0'), { recursive: true });
    mkdirSync(join(sysfs, 'bus/pci/devices/0000:00:05.0/net'), { recursive: true });
    expect(() => isDpdk({ by: 'pci', address: '0000:ff:1f.7' }, sysfs)).toThrow(
      /^no PCI device 0000:ff:1f.7 on this host/,
    );
    expect(() => findHostLink(host(), { by: 'pci', address: '0000:00:04.0' }, sysfs)).toThrow(
      'failed to find host device: no net directory under pci device 0000:00:04.0',
    );
    expect(() => findHostLink(host(), { by: 'pci', address: '0000:00:05.0' }, sysfs)).toThrow(
      /PCI device 0000:00:05.0 has no network device in this network namespace/,
    );
  });
});
