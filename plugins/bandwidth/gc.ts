/**
 * bandwidth GC: removes this network's ifb devices whose attachment is not in
 * `cni.dev/valid-attachments` (a DEL that never came leaves one behind for good: the veth goes
 * with the container, the ifb stays in the host). Only devices tscni marked with this network's
 * alias are considered, so the reference's and other networks' stay; without the key nothing is
 * removed.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { validAttachmentsOf } from '../../lib/cni/netconf';
import type { Kernel } from '../../lib/net/kernel';
import { ifbName, networkTag, parseIfbAlias } from './names';
import { deleteLinkAt, redirectsTo, removeIngressQdisc, removeRootQdisc } from './shaping';

export async function gc(inv: Invocation, kernel: Kernel): Promise<void> {
  const valid = validAttachmentsOf(inv.config);
  if (!valid) return;
  const keep = new Set(valid.map((a) => ifbName(inv.networkName, a.containerID)));
  const tag = networkTag(inv.networkName);
  const host = kernel.rtnl();
  try {
    for (const link of host.links()) {
      if (link.kind !== 'ifb' || keep.has(link.name)) continue;
      const mark = parseIfbAlias(link.alias);
      if (mark?.tag !== tag) continue;
      const shaped = host.linkByName(mark.hostLink);
      if (shaped && redirectsTo(host, shaped.index, link.index)) {
        removeRootQdisc(host, shaped.index);
        removeIngressQdisc(host, shaped.index);
      }
      deleteLinkAt(host, link.index);
    }
  } finally {
    host.close();
  }
}
