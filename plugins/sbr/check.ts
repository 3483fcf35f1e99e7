/**
 * sbr CHECK: each of the interface's prevResult addresses still has its rule (into `table` when
 * set), and without `table` that rule's table still routes through the interface. The reference's
 * CHECK checks nothing.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import { formatIP, parseCIDR } from '../../lib/addr/ip';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { loadSbrConfig, requireIps } from './config';

const fail = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);

export async function check(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadSbrConfig(inv.config);
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing');
  const { ips } = requireIps(prev, inv.ifName);
  requireNetns(inv.netns);
  const ctr = kernel.rtnl(inv.netns);
  try {
    const link = ctr.linkByName(inv.ifName);
    if (!link) throw fail(`Cannot find network interface ${inv.ifName}: Link not found`);
    const rules = ctr.rules();
    const routes = cfg.table === undefined ? ctr.routes({ table: 'all', oif: link.index }) : [];
    for (const ip of ips) {
      const c = parseCIDR(ip.address);
      if (!c) continue;
      const host = formatIP(c.addr);
      const rule = rules.find(
        (r) => r.src?.split('/')[0] === host && (cfg.table === undefined || r.table === cfg.table),
      );
      if (!rule)
        throw fail(
          `no rule for source ${host}${cfg.table === undefined ? '' : ` into table ${cfg.table}`} on interface ${inv.ifName}`,
        );
      if (cfg.table === undefined && !routes.some((r) => r.table === rule.table))
        throw fail(`table ${rule.table} of source ${host} has no route through interface ${inv.ifName}`);
    }
  } finally {
    ctr.close();
  }
}
