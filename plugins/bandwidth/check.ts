/**
 * bandwidth CHECK: the qdiscs ADD made are there with the configured numbers — the root tbf of
 * the host veth (or the HTB tree with subnets), the ifb with its root tbf, and the veth's
 * redirect to it (the reference checks only the two tbfs, and passes when the first qdisc it
 * meets is not a tbf).
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { loadBandwidthConfig } from './config';
import { findHostLink } from './host-link';
import { ifbName } from './names';
import { checkEgressShaping, checkIngressShaping, planShaping } from './shaping';
import { schedulerTick } from './tbf';

export async function check(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadBandwidthConfig(inv);
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'must be called as a chained plugin');
  requireNetns(inv.netns);
  const host = kernel.rtnl();
  const ctr = kernel.rtnl(inv.netns);
  try {
    const hostLink = findHostLink(host, ctr, inv.ifName, prev.interfaces);
    if (!cfg) return;
    const plan = planShaping(cfg, schedulerTick());
    if (plan.ingress) checkIngressShaping(host, hostLink, plan.ingress, plan.selection);
    if (plan.egress)
      checkEgressShaping(host, hostLink, plan.egress, plan.selection, ifbName(inv.networkName, inv.containerId));
  } finally {
    ctr.close();
    host.close();
  }
}
