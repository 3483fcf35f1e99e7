/**
 * ptp CHECK: IPAM agrees, the container's veth is there with prevResult's MAC, addresses and
 * routes (the reference's checks and messages), and — beyond the reference — the host end
 * still routes each container address.
 */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Kernel } from '../../lib/net/kernel';
import { checkAddresses, checkRoutes } from '../../lib/net/verify';
import { parseCIDR, formatIP, sameAddr } from '../../lib/addr/ip';
import { loadPtpConfig, requireIpam } from './config';
import { requireNetns } from '../../lib/net/open-netns';
import { ipsOfInterface } from '../../lib/cni/result/select';

const fail = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);

export async function check(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadPtpConfig(inv.config);
  requireNetns(inv.netns);
  await delegate('CHECK', requireIpam(cfg), inv, { runner: kernel.runner });
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'ptp: Required prevResult missing');
  const ifaces = prev.interfaces ?? [];
  const contIndex = ifaces.findIndex((i) => i.name === inv.ifName && i.sandbox === inv.netns);
  const cont = ifaces[contIndex];
  if (!cont) throw fail(`Sandbox in prevResult  doesn't match configured netns: ${inv.netns}`);
  const ips = ipsOfInterface(prev, contIndex);

  const ctr = kernel.rtnl(inv.netns);
  let peerIndex: number | undefined;
  try {
    const link = ctr.linkByName(inv.ifName);
    if (!link) throw fail(`ptp: Container Interface name in prevResult: ${inv.ifName} not found`);
    if (link.kind !== 'veth') throw fail(`Error: Container interface ${inv.ifName} not of type veth/p2p`);
    if (cont.mac && cont.mac.toLowerCase() !== (link.mac ?? '').toLowerCase())
      throw fail(`ptp: Interface ${inv.ifName} Mac ${cont.mac} doesn't match container Mac: ${link.mac ?? ''}`);
    peerIndex = link.parentIndex;
    checkAddresses(ctr, link.index, inv.ifName, ips, contIndex);
    checkRoutes(ctr, prev.routes ?? []);
  } finally {
    ctr.close();
  }

  const hostPrev = ifaces.find((i, idx) => idx !== contIndex && !i.sandbox);
  if (!hostPrev) return;
  const host = kernel.rtnl();
  try {
    const veth = host.linkByName(hostPrev.name);
    if (!veth || veth.index !== peerIndex)
      throw fail(`ptp: host veth ${hostPrev.name} of container interface ${inv.ifName} not found`);
    const hostRoutes = host.routes({ oif: veth.index });
    for (const ip of ips) {
      const c = parseCIDR(ip.address);
      if (!c) continue;
      const bits = c.addr.family === 4 ? 32 : 128;
      const routed = hostRoutes.some((r) => {
        const d = parseCIDR(r.dst);
        return !!d && d.prefix === bits && sameAddr(d.addr, c.addr);
      });
      if (!routed) throw fail(`ptp: host route to ${formatIP(c.addr)} via ${veth.name} not found`);
    }
  } finally {
    host.close();
  }
}
