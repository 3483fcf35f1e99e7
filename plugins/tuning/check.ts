/** tuning CHECK: each configured sysctl and interface attribute still has its configured value. */
import type { Invocation } from '../../lib/cni/dispatch';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import { inContainer, openContainer } from '../../lib/net/open-netns';
import { loadTuningConfig } from './config';
import { procSysctlFs } from './sysctl';
import { checkTuning } from './tune';

export async function check(inv: Invocation): Promise<void> {
  const cfg = loadTuningConfig(inv);
  if (!prevResultOf(inv)) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing');
  const rtnl = openContainer(inv.netns);
  try {
    inContainer(inv.netns, () => checkTuning({ rtnl, sysctl: procSysctlFs }, cfg, inv.ifName));
  } finally {
    rtnl.close();
  }
}
