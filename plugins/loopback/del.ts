/**
 * loopback DEL: lo down. Nothing to do without CNI_NETNS or when the namespace is already gone
 * (the runtime may call DEL after deleting it, and more than once).
 */
import type { Invocation } from '../../lib/cni/dispatch';
import { netnsExists, openContainer } from '../../lib/net/open-netns';
import { bringDownLoopback } from './loopback';

export async function del(inv: Invocation): Promise<void> {
  if (!netnsExists(inv.netns)) return;
  const ctr = openContainer(inv.netns);
  try {
    bringDownLoopback(ctr);
  } finally {
    ctr.close();
  }
}
