/**
 * host-device configuration (reference: plugins/main/host-device NetConf, v1.9): which host link
 * to move — `device` (a name), `hwaddr` (a MAC), `kernelpath` (a device under /sys/devices),
 * `pciBusID`, or `runtimeConfig.deviceID` (a PCI or auxiliary device, overriding `pciBusID`) —
 * the IPAM type and DNS, and `dataDir` (ours) where attachments are recorded. Every name that
 * becomes a path is checked first: one path component, or a path that stays under /sys/devices.
 */
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import type { Env } from '../../lib/cni/io';
import type { NetConfig } from '../../lib/cni/invocation';
import { CniError, ConfigError, ErrorCode } from '../../lib/cni/errors';
import { isValidLinkName } from '../../lib/cni/names';
import { configuredDns } from '../../lib/cni/netconf';
import { dnsDecoder } from '../../lib/cni/result/decode';
import type { DNS } from '../../lib/cni/result/types';
import * as t from '../../lib/cni/schema';
import { parseGoMac } from '../../lib/net/mac';

const optStr = t.optional(t.string);
const decoder = t.object({
  device: optStr,
  hwaddr: optStr,
  kernelpath: optStr,
  pciBusID: optStr,
  runtimeConfig: t.optional(t.object({ deviceID: optStr })),
  ipam: t.optional(t.object({ type: optStr })),
  dns: t.optional(dnsDecoder),
  dataDir: optStr,
});

/** How the host link is found. */
export type DeviceRef =
  | { readonly by: 'name'; readonly name: string }
  | { readonly by: 'mac'; readonly mac: string }
  | { readonly by: 'kernelpath'; readonly path: string }
  | { readonly by: 'pci'; readonly address: string }
  | { readonly by: 'auxiliary'; readonly name: string };

export interface HostDeviceConfig {
  readonly device: DeviceRef;
  readonly ipamType: string;
  readonly dns: DNS | undefined;
  readonly dataDir: string;
  /** dataDir is our default, not configured (see DeviceRecords). */
  readonly ownDataDir: boolean;
}

/** What DEL, GC and STATUS need: they must work when the device keys no longer resolve. */
export interface HostDeviceStateConfig {
  readonly ipamType: string;
  readonly dataDir: string;
  readonly ownDataDir: boolean;
}

const DEFAULT_STATE_ROOT = '/var/lib/cni/tscni';

/** `dataDir`, else `$TSCNI_STATE_DIR/host-device` (tests), else /var/lib/cni/tscni/host-device. */
function dataDirOf(raw: string | undefined, env: Env): string {
  const dir = raw || posix.join(env['TSCNI_STATE_DIR'] || DEFAULT_STATE_ROOT, 'host-device');
  if (!dir.startsWith('/') || dir.includes('\0') || dir.split('/').includes('..'))
    throw new ConfigError(`invalid dataDir ${JSON.stringify(dir)}`, 'an absolute path without ".."');
  return dir;
}

export function loadStateConfig(config: NetConfig, env: Env): HostDeviceStateConfig {
  const c = t.parseWith(decoder, config, 'host-device configuration');
  return { ipamType: c.ipam?.type ?? '', dataDir: dataDirOf(c.dataDir, env), ownDataDir: !c.dataDir };
}

/** A sysfs directory entry named by config: one plain path component. */
function sysfsName(what: string, v: string): string {
  if (v.length > 255 || v === '.' || v === '..' || /[/\0]/.test(v))
    throw new ConfigError(`invalid ${what} ${JSON.stringify(v)}`, 'a PCI address such as 0000:03:00.1');
  return v;
}

/**
 * The reference's rule (absolute, below /sys/devices/), checked after the path is normalized:
 * the reference checks the raw text, so `/sys/devices/../../etc` passes there.
 */
function kernelPath(v: string): string {
  const norm = posix.normalize(v);
  if (!posix.isAbsolute(v) || !norm.startsWith('/sys/devices/') || v.split('/').includes('..'))
    throw new ConfigError(`kernel device path ${JSON.stringify(v)} must be absolute and begin with /sys/devices/`);
  return norm.replace(/\/+$/, '');
}

/**
 * runtimeConfig.deviceID names a PCI device, else an auxiliary one (v1.9; Debian's v1.1.1 takes
 * it as a PCI address). `sysfs` is /sys, another root in tests.
 */
function deviceIdRef(id: string, sysfs: string): DeviceRef {
  sysfsName('deviceID', id);
  if (existsSync(posix.join(sysfs, 'bus/pci/devices', id))) return { by: 'pci', address: id };
  if (existsSync(posix.join(sysfs, 'bus/auxiliary/devices', id))) return { by: 'auxiliary', name: id };
  throw new CniError(ErrorCode.Internal, `runtime config DeviceID ${id} not found or unsupported`);
}

export function loadHostDeviceConfig(config: NetConfig, env: Env, sysfs = '/sys'): HostDeviceConfig {
  const c = t.parseWith(decoder, config, 'host-device configuration');
  const base = {
    ipamType: c.ipam?.type ?? '',
    dns: configuredDns(c.dns),
    dataDir: dataDirOf(c.dataDir, env),
    ownDataDir: !c.dataDir,
  };
  const id = c.runtimeConfig?.deviceID;
  let device: DeviceRef;
  // The reference's order: a name wins over a MAC, over a kernel path, over a PCI address.
  if (c.device) {
    if (!isValidLinkName(c.device)) throw new ConfigError(`invalid device name ${JSON.stringify(c.device)}`);
    device = { by: 'name', name: c.device };
  } else if (c.hwaddr) {
    const mac = parseGoMac(c.hwaddr);
    if (!mac)
      throw new ConfigError(
        `failed to find host device: failed to parse MAC address ${JSON.stringify(c.hwaddr)}: address ${c.hwaddr}: invalid MAC address`,
      );
    device = { by: 'mac', mac };
  } else if (c.kernelpath) {
    device = { by: 'kernelpath', path: kernelPath(c.kernelpath) };
  } else if (id) {
    device = deviceIdRef(id, sysfs);
  } else if (c.pciBusID) {
    device = { by: 'pci', address: sysfsName('pciBusID', c.pciBusID) };
  } else {
    throw new ConfigError(`specify either "device", "hwaddr", "kernelpath" or "pciBusID"`);
  }
  return { ...base, device };
}
