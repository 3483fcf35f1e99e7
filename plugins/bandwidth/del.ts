/**
 * bandwidth DEL: idempotent, and needs neither the namespace nor prevResult nor a valid limit.
 * The shaped host link is found through the container's veth; without the namespace, through
 * the ifb's alias, and then only if its redirect points at that ifb (a name from prevResult
 * could be any veth: it is not trusted to pick qdiscs to delete). Its root and ingress qdiscs go
 * first, so no redirect is left pointing at a deleted device, then the ifb. With the namespace
 * but without its veth, the host end is gone too (the two ends of a veth die together); without
 * either and with no ifb, a root qdisc left on the veth goes with it.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { warn } from '../../lib/log';
import type { Kernel } from '../../lib/net/kernel';
import { netnsExists } from '../../lib/net/open-netns';
import type { Link, Rtnl } from '../../lib/netlink';
import { vethPeer } from './host-link';
import { ifbName, parseIfbAlias } from './names';
import { deleteLinkAt, redirectsTo, removeIngressQdisc, removeRootQdisc } from './shaping';

function viaNetns(kernel: Kernel, host: Rtnl, inv: Invocation): Link | undefined {
  const ctr = kernel.rtnl(inv.netns);
  try {
    return vethPeer(host, ctr, inv.ifName);
  } finally {
    ctr.close();
  }
}

function viaAlias(host: Rtnl, ifb: Link | undefined): Link | undefined {
  const named = parseIfbAlias(ifb?.alias)?.hostLink;
  const link = named ? host.linkByName(named) : undefined;
  return link && ifb && redirectsTo(host, link.index, ifb.index) ? link : undefined;
}

export async function del(inv: Invocation, kernel: Kernel): Promise<void> {
  const host = kernel.rtnl();
  try {
    const name = ifbName(inv.networkName, inv.containerId);
    const ifb = host.linkByName(name);
    let shaped: Link | undefined;
    let looked = false;
    if (netnsExists(inv.netns)) {
      try {
        shaped = viaNetns(kernel, host, inv);
        looked = true;
      } catch (e) {
        warn(
          `DEL: cannot look into ${inv.netns} (${e instanceof Error ? e.message : String(e)}); using the ifb's alias`,
        );
      }
    }
    if (!looked) shaped = viaAlias(host, ifb);
    if (shaped) {
      removeRootQdisc(host, shaped.index);
      removeIngressQdisc(host, shaped.index);
    }
    if (ifb) deleteLinkAt(host, ifb.index);
  } finally {
    host.close();
  }
}
