/**
 * bandwidth ADD (chained after bridge or ptp): shapes the container's traffic on the host end
 * of its veth — towards the container with a root tbf, from it through an ifb — and passes the
 * previous result on, plus the ifb when there is one. Nothing to shape: prevResult unchanged.
 * A failure removes whatever this call had added.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { UndoStack } from '../../lib/undo';
import { loadBandwidthConfig } from './config';
import { findHostLink } from './host-link';
import { ifbAlias, ifbName } from './names';
import { addEgressShaping, addIngressShaping, planShaping } from './shaping';
import { schedulerTick } from './tbf';

export async function add(inv: Invocation, kernel: Kernel): Promise<Result> {
  const cfg = loadBandwidthConfig(inv);
  const prev = prevResultOf(inv.config, inv.cniVersion);
  // The reference crashes when there is neither a limit nor a previous result; an empty result is the answer.
  if (!cfg) return { ...(prev ?? {}), cniVersion: inv.cniVersion };
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'must be called as chained plugin');
  requireNetns(inv.netns);
  const plan = planShaping(cfg, schedulerTick());

  const host = kernel.rtnl();
  const ctr = kernel.rtnl(inv.netns);
  try {
    const hostLink = findHostLink(host, ctr, inv.ifName, prev.interfaces);
    return await new UndoStack().guard(async (undo) => {
      if (plan.ingress) addIngressShaping(host, hostLink.index, plan.ingress, plan, undo);
      const result: Result = { ...prev, cniVersion: inv.cniVersion };
      if (plan.egress) {
        const name = ifbName(inv.networkName, inv.containerId);
        const ifb = addEgressShaping(
          host,
          hostLink,
          plan.egress,
          plan.selection,
          { name, alias: ifbAlias(inv.networkName, hostLink.name) },
          undo,
        );
        result.interfaces = [...(prev.interfaces ?? []), { name, ...(ifb.mac ? { mac: ifb.mac } : {}) }];
      }
      return result;
    });
  } finally {
    ctr.close();
    host.close();
  }
}
