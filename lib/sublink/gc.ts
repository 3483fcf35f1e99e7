/**
 * macvlan/ipvlan GC: forwarded to IPAM (the spec's MUST), then VLAN sub-interface users of this
 * network that are not valid attachments any more are dropped, and sub-interfaces of ours left
 * without users are deleted.
 */
import { delegate } from '../cni/delegate';
import { attachmentKey, type Invocation } from '../cni/invocation';
import { Failures } from '../cni/errors';
import { validAttachmentsOf, validKeys } from '../cni/netconf';
import type { Kernel } from '../net/kernel';
import { gcVlans, vlanOptionsFor } from '../net/vlan';
import type { SubLinkDelConfig } from './config';

export async function gcSubLink(cfg: SubLinkDelConfig, inv: Invocation, kernel: Kernel): Promise<void> {
  const failures = new Failures();
  if (cfg.ipamType !== '')
    await delegate('GC', cfg.ipamType, inv, { runner: kernel.runner }).catch(failures.of('IPAM GC'));
  const valid = validAttachmentsOf(inv.config);
  if (valid && !cfg.linkInContainer) {
    const keep = validKeys(valid);
    const host = kernel.rtnl();
    try {
      await gcVlans(
        host,
        inv.networkName,
        (u) => keep.has(attachmentKey(u.containerId, u.ifName)),
        vlanOptionsFor(inv.env),
      );
    } catch (e) {
      failures.of('VLAN sub-interface GC')(e);
    } finally {
      host.close();
    }
  }
  failures.throwIfAny();
}
