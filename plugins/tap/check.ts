/**
 * tap CHECK: IPAM agrees, prevResult names the tap in this container, and the tap is still what
 * ADD made — beyond the reference, which checks only addresses and routes: a tap (not a tun),
 * its queue mode, owner, group, MTU, prevResult's MAC, a port of `bridge` — then its addresses
 * and routes with the reference's messages.
 */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { containerInterface } from '../../lib/link-plugin/check';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { checkAddresses, checkRoutes } from '../../lib/net/verify';
import type { Link, Rtnl } from '../../lib/netlink';
import { loadTapConfig, type TapConfig } from './config';

const fail = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);

function checkTap(ctr: Rtnl, link: Link, cfg: TapConfig, mac: string | undefined): void {
  const name = link.name;
  if (link.kind !== 'tun' || link.tun?.type !== 'tap') throw fail(`Error: Container interface ${name} not of type tap`);
  if (link.tun.multiQueue !== cfg.multiQueue)
    throw fail(`tap ${name} multi-queue is ${link.tun.multiQueue}, configured ${cfg.multiQueue}`);
  if (link.tun.owner !== cfg.owner)
    throw fail(`tap ${name} owner is ${link.tun.owner ?? 'none'}, configured ${cfg.owner ?? 'none'}`);
  if (link.tun.group !== cfg.group)
    throw fail(`tap ${name} group is ${link.tun.group ?? 'none'}, configured ${cfg.group ?? 'none'}`);
  if (cfg.mtu > 0 && link.mtu !== cfg.mtu) throw fail(`tap ${name} MTU is ${link.mtu}, configured ${cfg.mtu}`);
  if (mac && mac.toLowerCase() !== (link.mac ?? '').toLowerCase())
    throw fail(`Interface ${name} Mac ${mac} doesn't match container Mac: ${link.mac ?? ''}`);
  if (cfg.bridge) {
    const br = ctr.linkByName(cfg.bridge);
    if (!br || link.masterIndex !== br.index) throw fail(`tap ${name} is not a port of bridge ${cfg.bridge}`);
  }
}

export async function check(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadTapConfig(inv);
  requireNetns(inv.netns);
  if (cfg.ipamType !== '') await delegate('CHECK', cfg.ipamType, inv, { runner: kernel.runner });
  const { prev, index, iface, ips } = containerInterface(inv, '');
  const ctr = kernel.rtnl(inv.netns);
  try {
    const link = ctr.linkByName(inv.ifName);
    if (!link) throw fail(`Cannot find container link ${inv.ifName}`);
    checkTap(ctr, link, cfg, iface.mac);
    checkAddresses(ctr, link.index, inv.ifName, ips, index);
    checkRoutes(ctr, prev.routes ?? []);
  } finally {
    ctr.close();
  }
}
