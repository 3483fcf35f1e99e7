/**
 * macvlan/ipvlan DEL: idempotent and independent of the master. The lease goes first, while the
 * container's link still exists (the reference's order: the dhcp daemon sends its DHCPRELEASE
 * from that link), then the link (nothing to do when the namespace or the link is already gone:
 * a macvlan dies with its namespace), then this attachment's use of a VLAN sub-interface of
 * ours — the last user takes the sub-interface with it.
 */
import { delegate } from '../cni/delegate';
import type { Invocation } from '../cni/invocation';
import { Failures } from '../cni/errors';
import type { Kernel } from '../net/kernel';
import { releaseVlans, vlanOptionsFor } from '../net/vlan';
import { vlanUserOf, type SubLinkDelConfig } from './config';
import { deleteContainerLink } from '../net/container-link';

export async function delSubLink(cfg: SubLinkDelConfig, inv: Invocation, kernel: Kernel): Promise<void> {
  // Each step runs even when an earlier one failed; every failure is reported at the end.
  const failures = new Failures();
  const step = async (fn: () => Promise<unknown>): Promise<void> => fn().then(() => undefined, failures.of());
  if (cfg.ipamType !== '') await step(() => delegate('DEL', cfg.ipamType, inv, { runner: kernel.runner }));
  await step(() => deleteContainerLink(inv.netns, inv.ifName, kernel.rtnl));
  if (!cfg.linkInContainer)
    await step(async () => {
      const host = kernel.rtnl();
      try {
        await releaseVlans(host, vlanUserOf(inv), vlanOptionsFor(inv.env));
      } finally {
        host.close();
      }
    });
  failures.throwIfAny();
}
