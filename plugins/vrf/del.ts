/**
 * vrf DEL: the interface leaves the VRF, and the VRF goes with its last interface. Idempotent:
 * no namespace, no VRF or no interface is nothing to do (the reference fails when the interface
 * is gone but the VRF is not), and an interface in another master is left alone.
 */
import type { Invocation } from '../../lib/cni/invocation';
import type { Kernel } from '../../lib/net/kernel';
import { netnsExists } from '../../lib/net/open-netns';
import { isErrno } from '../../lib/netlink';
import { loadVrfConfig } from './config';
import { portsOf } from './vrf';

export async function del(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadVrfConfig(inv);
  if (!netnsExists(inv.netns)) return;
  const ctr = kernel.rtnl(inv.netns);
  try {
    const vrf = ctr.linkByName(cfg.vrfName);
    if (!vrf || vrf.kind !== 'vrf') return;
    const link = ctr.linkByName(inv.ifName);
    if (link && link.masterIndex === vrf.index) ctr.setLink(link.index, { masterIndex: null });
    if (portsOf(ctr, vrf).length > 0) return;
    try {
      await ctr.deleteLinkAsync(vrf.index);
    } catch (e) {
      if (!isErrno(e, 'ENODEV')) throw e;
    }
  } finally {
    ctr.close();
  }
}
