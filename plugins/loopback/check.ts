/** loopback CHECK: lo is up and still has the loopback addresses ADD reported for it. */
import type { Invocation } from '../../lib/cni/invocation';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { loadLoopbackConfig } from './config';
import { checkLoopback } from './loopback';

export async function check(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadLoopbackConfig(inv.config, inv.cniVersion);
  requireNetns(inv.netns);
  const ctr = kernel.rtnl(inv.netns);
  try {
    checkLoopback(ctr, inv.netns, cfg.prevResult);
  } finally {
    ctr.close();
  }
}
