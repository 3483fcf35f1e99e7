/**
 * loopback ADD: lo up in the container. Unchained, the result describes lo (all-zero MAC,
 * 127.0.0.1/8 and ::1/128 as the kernel set them); chained, the previous result is passed on
 * unchanged, as the reference does.
 */
import type { Invocation } from '../../lib/cni/invocation';
import type { Result } from '../../lib/cni/result/types';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { loadLoopbackConfig } from './config';
import { bringUpLoopback, loopbackResult, type LoopbackAddrs } from './loopback';

export async function add(inv: Invocation, kernel: Kernel): Promise<Result> {
  const cfg = loadLoopbackConfig(inv.config, inv.cniVersion);
  requireNetns(inv.netns);
  const ctr = kernel.rtnl(inv.netns);
  let addrs: LoopbackAddrs;
  try {
    addrs = bringUpLoopback(ctr);
  } finally {
    ctr.close();
  }
  return cfg.prevResult ?? loopbackResult(inv.cniVersion, inv.netns, addrs);
}
