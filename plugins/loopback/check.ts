/** loopback CHECK: lo is up and still has the loopback addresses ADD reported for it. */
import type { Invocation } from '../../lib/cni/dispatch';
import { openContainer } from '../../lib/net/open-netns';
import { loadLoopbackConfig } from './config';
import { checkLoopback } from './loopback';

export async function check(inv: Invocation): Promise<void> {
  const cfg = loadLoopbackConfig(inv);
  const ctr = openContainer(inv.netns);
  try {
    checkLoopback(ctr, inv.netns, cfg.prevResult);
  } finally {
    ctr.close();
  }
}
