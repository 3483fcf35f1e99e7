/**
 * Removing links: a container's interface on DEL — idempotent (a missing namespace or interface is
 * done already), and without blocking the event loop while the kernel takes its ~20 ms to
 * delete a veth, so firewall teardown running beside it keeps going.
 */
import { isErrno, type Rtnl } from '../netlink';
import { netnsExists } from './open-netns';

/** `rtnl` opens a socket in the container's namespace (the verb's Kernel.rtnl). */
export async function deleteContainerLink(netns: string, ifName: string, rtnl: (netns: string) => Rtnl): Promise<void> {
  if (!netnsExists(netns)) return;
  const ctr = rtnl(netns);
  try {
    const link = ctr.linkByName(ifName);
    if (link) await ctr.deleteLinkAsync(link.index);
  } catch (e) {
    if (!isErrno(e, 'ENODEV')) throw new Error(`failed to delete ${ifName}: ${(e as Error).message}`);
  } finally {
    ctr.close();
  }
}

/** Deletes a link of the namespace of `rtnl` by name (an undo step); a link already gone is fine. */
export async function deleteLinkNamed(rtnl: Rtnl, name: string): Promise<void> {
  const link = rtnl.linkByName(name);
  if (!link) return;
  try {
    await rtnl.deleteLinkAsync(link.index);
  } catch (e) {
    if (!isErrno(e, 'ENODEV')) throw e;
  }
}
