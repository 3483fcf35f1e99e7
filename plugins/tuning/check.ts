/** tuning CHECK: each configured sysctl and interface attribute still has its configured value. */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { loadTuningConfig } from './config';
import { checkTuning } from './tune';

export async function check(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadTuningConfig(inv.config, inv.cniArgs, inv.ifName, inv.stdin);
  if (!prevResultOf(inv.config, inv.cniVersion))
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing');
  requireNetns(inv.netns);
  const rtnl = kernel.rtnl(inv.netns);
  try {
    kernel.withSysctlsIn(inv.netns, (sysctl) => checkTuning({ rtnl, sysctl }, cfg, inv.ifName));
  } finally {
    rtnl.close();
  }
}
