/**
 * host-device ADD: the host link the config names moves into the container, renamed to
 * CNI_IFNAME and up (see move.ts), then IPAM's addresses and routes go on it. The attachment is
 * recorded before the move (records.ts); every step registers its undo first, so a failure puts
 * the device back as it was (name, alias, up state), releases the lease and drops the record.
 * A PCI device bound to a DPDK driver is not moved: the result names it for the runtime.
 */
import { statSync } from 'node:fs';
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { Interface, IPConfig, Result, Route } from '../../lib/cni/result/types';
import { addRoutes, configureInterface, gatewaysOf } from '../../lib/net/interface';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { settleIPv6 } from '../../lib/net/settle';
import type { SysctlValues } from '../../lib/net/sysctl';
import type { Rtnl } from '../../lib/netlink';
import { UndoStack } from '../../lib/undo';
import { loadHostDeviceConfig } from './config';
import { findHostLink, isDpdk } from './device';
import { findInContainer, moveIn, moveOut } from './move';
import { DeviceRecords, type DeviceRecord } from './records';

/** The reference's ConfigureIface sysctls: IPv6 on (lo too) where an IPv6 address goes. */
function ipv6Sysctls(ifName: string, ips: readonly IPConfig[]): SysctlValues {
  if (!ips.some((ip) => ip.address.includes(':'))) return [];
  return [
    ['net/ipv6/conf/lo/disable_ipv6', '0'],
    [`net/ipv6/conf/${ifName}/disable_ipv6`, '0'],
    [`net/ipv6/conf/${ifName}/keep_addr_on_down`, '1'],
  ];
}

/** Addresses, up, IPv6 settled (DAD on, as in the reference), then routes. */
async function configure(
  kernel: Kernel,
  ctr: Rtnl,
  inv: Invocation,
  ips: readonly IPConfig[],
  routes: readonly Route[],
): Promise<void> {
  kernel.setSysctlsIn(inv.netns, ipv6Sysctls(inv.ifName, ips));
  const gateways = gatewaysOf(ips);
  const index = configureInterface(ctr, inv.ifName, { ips, routes: [], gateways, nodad: false, up: true });
  if (gateways.has(6)) await settleIPv6(ctr, index, inv.ifName);
  addRoutes(ctr, index, routes, gateways);
}

export async function add(inv: Invocation, kernel: Kernel, sysfs = '/sys'): Promise<Result> {
  const cfg = loadHostDeviceConfig(inv.config, inv.env, sysfs);
  requireNetns(inv.netns);
  const dpdk = isDpdk(cfg.device, sysfs);
  const records = new DeviceRecords(cfg.dataDir, cfg.ownDataDir);
  const host = kernel.rtnl();
  const ctr = kernel.rtnl(inv.netns);
  try {
    return await new UndoStack().guard(async (undo) => {
      let iface: Interface = { name: inv.ifName, sandbox: inv.netns };
      if (!dpdk) {
        const dev = findHostLink(host, cfg.device, sysfs);
        const rec: DeviceRecord = {
          network: inv.networkName,
          containerId: inv.containerId,
          ifName: inv.ifName,
          netns: inv.netns,
          netnsInode: statSync(inv.netns).ino,
          dpdk: false,
          hostName: dev.name,
          mac: dev.mac ?? '',
          alias: dev.alias ?? '',
          up: dev.flags.up,
        };
        records.write(rec);
        undo.push('drop the record', async () => records.remove(rec.network, rec.containerId, rec.ifName));
        undo.push(`move ${dev.name} back`, async () => {
          const link = findInContainer(ctr, rec);
          if (link) moveOut(host, ctr, link, rec);
        });
        const moved = moveIn(host, ctr, inv.netns, dev, inv.ifName);
        iface = { name: inv.ifName, mac: moved.mac ?? '', sandbox: inv.netns };
      }
      const result: Result = { cniVersion: inv.cniVersion, interfaces: [iface] };
      if (cfg.ipamType === '') return result;

      undo.push('IPAM DEL', () => delegate('DEL', cfg.ipamType, inv, { runner: kernel.runner }));
      const ipam = await delegate('ADD', cfg.ipamType, inv, { runner: kernel.runner });
      if (!ipam?.ips?.length) throw new CniError(ErrorCode.Internal, 'IPAM plugin returned missing IP config');
      // Every address is for the device (the only interface of the result).
      result.ips = ipam.ips.map((ip) => ({ ...ip, interface: 0 }));
      if (ipam.routes?.length) result.routes = [...ipam.routes];
      if (!dpdk) await configure(kernel, ctr, inv, result.ips, result.routes ?? []);
      // As the reference: the config's DNS (IPAM's is not passed on).
      if (cfg.dns) result.dns = cfg.dns;
      return result;
    });
  } finally {
    ctr.close();
    host.close();
  }
}
