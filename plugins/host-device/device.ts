/**
 * Finding the host link a host-device config names, in the plugin's namespace: by name, by MAC
 * (the first link that has it, as the reference), or through sysfs — the first network device
 * under `<kernelpath>/net`, `/sys/bus/pci/devices/<pci>/net` (or a virtio child's `net`), or
 * `/sys/bus/auxiliary/devices/<name>/net`. A PCI device bound to a userspace (DPDK) driver has
 * no link: it is passed through without moving anything. Messages say which key pointed where.
 */
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { basename, posix } from 'node:path';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { Link, Rtnl } from '../../lib/netlink';
import type { DeviceRef } from './config';

/** Drivers that take a NIC away from the kernel for DPDK (the reference's list). */
const USERSPACE_DRIVERS = ['vfio-pci', 'uio_pci_generic', 'igb_uio'];

const notFound = (msg: string): CniError => new CniError(ErrorCode.Internal, `failed to find host device: ${msg}`);

/** Whether the PCI device is bound to a userspace driver; an unknown device is a clear error. */
export function isDpdk(ref: DeviceRef, sysfs: string): boolean {
  if (ref.by !== 'pci') return false;
  const dir = posix.join(sysfs, 'bus/pci/devices', ref.address);
  if (!existsSync(dir))
    throw new CniError(ErrorCode.Internal, `no PCI device ${ref.address} on this host (${dir} does not exist)`);
  let driver: string;
  try {
    driver = basename(realpathSync(posix.join(dir, 'driver')));
  } catch {
    return false; // no driver bound: not DPDK, and there will be no net device either
  }
  return USERSPACE_DRIVERS.includes(driver);
}

/** The first entry of a sysfs `net` directory: the device's link name. */
function firstNetDevice(netDir: string, what: string): string {
  let names: string[];
  try {
    names = readdirSync(netDir).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw notFound(`${what} has no network device (${netDir}: ${code === 'ENOENT' ? 'no such directory' : code})`);
  }
  const first = names[0];
  if (first === undefined)
    throw notFound(`${what} has no network device in this network namespace (${netDir} is empty)`);
  return first;
}

function sysfsLinkName(ref: DeviceRef, sysfs: string): string {
  switch (ref.by) {
    case 'kernelpath': {
      const dir = posix.join(sysfs, ref.path.slice('/sys/'.length));
      if (!existsSync(dir)) throw notFound(`kernelpath ${JSON.stringify(ref.path)} does not exist`);
      return firstNetDevice(posix.join(dir, 'net'), `kernelpath ${JSON.stringify(ref.path)}`);
    }
    case 'pci': {
      const dev = posix.join(sysfs, 'bus/pci/devices', ref.address);
      if (!existsSync(dev)) throw notFound(`no PCI device ${ref.address} on this host (${dev} does not exist)`);
      let net = posix.join(dev, 'net');
      if (!existsSync(net)) {
        const virtio = readdirSync(dev)
          .filter((n) => n.startsWith('virtio'))
          .sort()
          .map((n) => posix.join(dev, n, 'net'))
          .find((p) => existsSync(p));
        if (!virtio) throw notFound(`no net directory under pci device ${ref.address}`);
        net = virtio;
      }
      return firstNetDevice(net, `PCI device ${ref.address}`);
    }
    case 'auxiliary':
      return firstNetDevice(
        posix.join(sysfs, 'bus/auxiliary/devices', ref.name, 'net'),
        `auxiliary device ${ref.name}`,
      );
    default:
      throw new Error(`not a sysfs reference: ${ref.by}`);
  }
}

/** The host link `ref` names, looked up in the namespace of `host`. */
export function findHostLink(host: Rtnl, ref: DeviceRef, sysfs: string): Link {
  if (ref.by === 'mac') {
    const link = host.links().find((l) => l.mac === ref.mac);
    if (!link) throw notFound(`no link with MAC address ${ref.mac}`);
    return link;
  }
  const name = ref.by === 'name' ? ref.name : sysfsLinkName(ref, sysfs);
  const link = host.linkByName(name);
  if (!link) throw notFound(ref.by === 'name' ? 'Link not found' : `${name}: Link not found`);
  return link;
}
