/**
 * tuning ADD (chained after an interface plugin): sysctls and interface attributes of CNI_IFNAME
 * in the container, originals recorded for DEL, the previous result passed on with the new MAC.
 * Everything is checked before anything changes; a failure puts back what was changed.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { loadTuningConfig } from './config';
import { diskStore, recordName } from './state';
import { checkAllowlist, DEFAULT_ALLOWLIST, readAllowlist } from './sysctl';
import { applyTuning } from './tune';

/** The allow-list file; TSCNI_TUNING_ALLOWLIST points elsewhere (tests, or a non-standard layout). */
export const allowlistPath = (inv: Invocation): string => inv.env['TSCNI_TUNING_ALLOWLIST'] || DEFAULT_ALLOWLIST;

export async function add(inv: Invocation, kernel: Kernel): Promise<Result> {
  const cfg = loadTuningConfig(inv.config, inv.cniArgs, inv.ifName, inv.stdin);
  checkAllowlist(
    cfg.sysctls.map((s) => s.raw),
    readAllowlist(allowlistPath(inv)),
  );
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing');

  requireNetns(inv.netns);
  const rtnl = kernel.rtnl(inv.netns);
  try {
    kernel.withSysctlsIn(inv.netns, (sysctl) =>
      applyTuning({ rtnl, sysctl, store: diskStore(cfg.dataDir) }, cfg, {
        network: inv.networkName,
        ifName: inv.ifName,
        record: recordName(inv.containerId, inv.ifName),
      }),
    );
  } finally {
    rtnl.close();
  }
  if (cfg.mac !== undefined) for (const i of prev.interfaces ?? []) if (i.name === inv.ifName) i.mac = cfg.mac;
  return { ...prev, cniVersion: inv.cniVersion };
}
