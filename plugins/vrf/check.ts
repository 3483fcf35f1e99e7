/**
 * vrf CHECK: prevResult is there, the VRF exists (with the configured table, beyond the
 * reference) and the interface is one of its ports.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { loadVrfConfig } from './config';
import { findVrf, portsOf } from './vrf';

const fail = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);

export async function check(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadVrfConfig(inv);
  if (!prevResultOf(inv.config, inv.cniVersion))
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'missing prevResult from earlier plugin');
  requireNetns(inv.netns);
  const ctr = kernel.rtnl(inv.netns);
  try {
    const vrf = findVrf(ctr, cfg.vrfName);
    if (!vrf) throw fail(`failed to find VRF ${cfg.vrfName}: link not found`);
    if (cfg.table !== 0 && vrf.vrfTable !== cfg.table)
      throw fail(`VRF ${cfg.vrfName} has routing table ${vrf.vrfTable ?? 0}, configured ${cfg.table}`);
    if (!portsOf(ctr, vrf).some((l) => l.name === inv.ifName))
      throw fail(`failed to find ${inv.ifName} associated to vrf ${cfg.vrfName}`);
  } finally {
    ctr.close();
  }
}
