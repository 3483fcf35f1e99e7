/**
 * DEL of a plugin whose link lives in the container (tap, vlan, dummy): idempotent and in need of
 * nothing but the namespace. The link goes first — nothing to do when the namespace or the link
 * is gone already — then the lease, so an address is never handed out while still in use; an
 * IPAM that works through the link (dhcp sends its release from it) goes first instead. Both
 * steps run; every failure is reported, with the first one's code.
 */
import { delegate, ipamUsesInterface } from '../cni/delegate';
import type { Invocation } from '../cni/invocation';
import { Failures } from '../cni/errors';
import { deleteContainerLink } from '../net/container-link';
import type { Kernel } from '../net/kernel';

export async function delContainerLink(
  inv: Invocation,
  kernel: Pick<Kernel, 'rtnl' | 'runner'>,
  ipamType: string,
): Promise<void> {
  const failures = new Failures();
  const step = (fn: () => Promise<unknown>): Promise<void> => fn().then(() => undefined, failures.of());
  const lease = (): Promise<unknown> => delegate('DEL', ipamType, inv, { runner: kernel.runner });
  const leaseFirst = ipamUsesInterface(ipamType);
  if (ipamType !== '' && leaseFirst) await step(lease);
  await step(() => deleteContainerLink(inv.netns, inv.ifName, (ns) => kernel.rtnl(ns)));
  if (ipamType !== '' && !leaseFirst) await step(lease);
  failures.throwIfAny();
}
