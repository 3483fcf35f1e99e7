/**
 * loopback DEL: lo down. Nothing to do without CNI_NETNS or when the namespace is already gone
 * (the runtime may call DEL after deleting it, and more than once).
 */
import type { Invocation } from '../../lib/cni/invocation';
import type { Kernel } from '../../lib/net/kernel';
import { netnsExists } from '../../lib/net/open-netns';
import { bringDownLoopback } from './loopback';

export async function del(inv: Invocation, kernel: Kernel): Promise<void> {
  if (!netnsExists(inv.netns)) return;
  const ctr = kernel.rtnl(inv.netns);
  try {
    bringDownLoopback(ctr);
  } finally {
    ctr.close();
  }
}
