/**
 * sbr ADD (chained): source-based routing for the container interface — a rule per address
 * sending its traffic to a table of its own, which gets the interface's routes (see plan.ts), or
 * with `table` just the rules into that table. prevResult is passed on unchanged.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { applySteps, withNetnsLock } from './apply';
import { loadSbrConfig, requireIps } from './config';
import { mainRoutesOf, planFixedTable, planTables, type Step } from './plan';

export async function add(inv: Invocation, kernel: Kernel): Promise<Result> {
  const cfg = loadSbrConfig(inv.config);
  const { prev, ips } = requireIps(prevResultOf(inv.config, inv.cniVersion), inv.ifName);
  requireNetns(inv.netns);
  await withNetnsLock(inv.netns, async () => {
    const ctr = kernel.rtnl(inv.netns);
    try {
      let steps: Step[];
      if (cfg.table !== undefined) steps = planFixedTable(ips, cfg.table);
      else {
        const view = { rules: ctr.rules(), routes: ctr.routes({ table: 'all' }) };
        const link = ctr.linkByName(inv.ifName);
        if (!link)
          throw new CniError(ErrorCode.Internal, `Cannot find network interface ${inv.ifName}: Link not found`);
        steps = planTables(ips, view, { index: link.index, mainRoutes: mainRoutesOf(view.routes, link.index) });
      }
      await applySteps(ctr, steps, cfg.table !== undefined);
    } finally {
      ctr.close();
    }
  });
  return prev;
}
