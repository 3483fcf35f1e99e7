/**
 * host-device CHECK: IPAM agrees, and the container's interface is still what prevResult says —
 * there, with its MAC, addresses and routes — in the reference's order and words. A DPDK device
 * has nothing in the container to check.
 */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { checkAddresses, checkRoutes } from '../../lib/net/verify';
import { loadHostDeviceConfig } from './config';
import { isDpdk } from './device';

const fail = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);

export async function check(inv: Invocation, kernel: Kernel, sysfs = '/sys'): Promise<void> {
  const cfg = loadHostDeviceConfig(inv.config, inv.env, sysfs);
  requireNetns(inv.netns);
  const dpdk = isDpdk(cfg.device, sysfs);
  if (cfg.ipamType !== '') await delegate('CHECK', cfg.ipamType, inv, { runner: kernel.runner });
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing');
  if (dpdk) return;
  const ifaces = prev.interfaces ?? [];
  const index = ifaces.findIndex((i) => i.name === inv.ifName && i.sandbox === inv.netns);
  const cont = ifaces[index];
  if (!cont) throw fail(`Sandbox in prevResult  doesn't match configured netns: ${inv.netns}`);
  const ctr = kernel.rtnl(inv.netns);
  try {
    const link = ctr.linkByName(inv.ifName);
    if (!link) throw fail(`Container Interface name in prevResult: ${inv.ifName} not found`);
    if (cont.mac && cont.mac.toLowerCase() !== (link.mac ?? '').toLowerCase())
      throw fail(`Interface ${inv.ifName} Mac ${cont.mac} doesn't match container Mac: ${link.mac ?? ''}`);
    checkAddresses(ctr, link.index, inv.ifName, prev.ips ?? [], index);
    checkRoutes(ctr, prev.routes ?? []);
  } finally {
    ctr.close();
  }
}
