/**
 * vlan CHECK, in the reference's order and words: IPAM agrees, prevResult names the link in this
 * container, the master exists, the link is a vlan with prevResult's MAC, the configured VLAN ID
 * and MTU — and, beyond the reference, still a VLAN of that master — then addresses and routes.
 */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { containerInterface } from '../../lib/link-plugin/check';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { checkAddresses, checkRoutes } from '../../lib/net/verify';
import type { Link } from '../../lib/netlink';
import { lookupMaster } from './add';
import { loadVlanConfig, requireIpam, type VlanConfig } from './config';

const fail = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);

function checkLink(link: Link, cfg: VlanConfig, master: Link, mac: string | undefined): void {
  const name = link.name;
  if (link.kind !== 'vlan') throw fail(`Error: Container interface ${name} not of type vlan`);
  if (mac && mac.toLowerCase() !== (link.mac ?? '').toLowerCase())
    throw fail(`vlan: Interface ${name} Mac ${mac} doesn't match container Mac: ${link.mac ?? ''}`);
  if (link.vlanId !== cfg.vlanId)
    throw fail(`Error: vlan ${name} configured VLAN ID is ${cfg.vlanId}, current value is ${link.vlanId ?? 'none'}`);
  if (cfg.mtu !== 0 && link.mtu !== cfg.mtu)
    throw fail(`Error: configured MTU of ${name} is ${cfg.mtu}, current value is ${link.mtu}`);
  // Beyond the reference. A link moved to the container still names its parent by the index it
  // has in the host's namespace (with IFLA_LINK_NETNSID), as macvlan's does.
  if (link.parentIndex !== master.index) throw fail(`Error: vlan ${name} is not a VLAN of master ${master.name}`);
}

export async function check(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadVlanConfig(inv);
  requireNetns(inv.netns);
  await delegate('CHECK', requireIpam(cfg), inv, { runner: kernel.runner });
  const { prev, index, iface, ips } = containerInterface(inv, 'vlan: ');
  const host = kernel.rtnl();
  const ctr = kernel.rtnl(inv.netns);
  try {
    const master = lookupMaster(cfg, host, ctr);
    const link = ctr.linkByName(inv.ifName);
    if (!link) throw fail(`vlan: Container Interface name in prevResult: ${inv.ifName} not found`);
    checkLink(link, cfg, master, iface.mac);
    checkAddresses(ctr, link.index, inv.ifName, ips, index);
    checkRoutes(ctr, prev.routes ?? []);
  } finally {
    ctr.close();
    host.close();
  }
}
