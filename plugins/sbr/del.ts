/**
 * sbr DEL: removes the rules whose source is an address of the interface (only those into
 * `table` when it is set), as the reference does; the tables' routes go with the interface.
 * Beyond the reference: the addresses are also taken from prevResult, so rules are removed
 * when the interface or its addresses are already gone; a missing or dead namespace (its rules
 * died with it) is nothing to do; a config DEL cannot read is deleted as if it had no `table`.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { Failures } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import { parseCIDR, parseIP, formatIP } from '../../lib/addr/ip';
import { warn } from '../../lib/log';
import type { Kernel } from '../../lib/net/kernel';
import { netnsExists } from '../../lib/net/open-netns';
import { withNetnsLock } from './apply';
import { ipsOf, loadSbrConfig } from './config';

function tableOf(inv: Invocation): number | undefined {
  try {
    return loadSbrConfig(inv.config).table;
  } catch (e) {
    warn(`sbr DEL: ignoring an unusable config: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

/** An address in one spelling, for comparing kernel and result text. */
const canonical = (ip: string): string | undefined => {
  const a = parseIP(ip);
  return a ? formatIP(a) : undefined;
};

export async function del(inv: Invocation, kernel: Kernel): Promise<void> {
  const table = tableOf(inv);
  const prev = prevResultOf(inv.config, inv.cniVersion, true);
  if (!netnsExists(inv.netns)) return;
  await withNetnsLock(inv.netns, async () => {
    const ctr = kernel.rtnl(inv.netns);
    try {
      const rules = ctr.rules(table === undefined ? {} : { table });
      const sources = new Set<string>();
      for (const ip of prev ? ipsOf(prev, inv.ifName) : []) {
        const c = parseCIDR(ip.address);
        if (c) sources.add(formatIP(c.addr));
      }
      const link = ctr.linkByName(inv.ifName);
      if (link) for (const a of ctr.addrs({ index: link.index })) sources.add(canonical(a.address) ?? a.address);
      const failures = new Failures();
      for (const r of rules) {
        const src = r.src?.split('/')[0];
        if (src === undefined || !sources.has(canonical(src) ?? src)) continue;
        try {
          ctr.deleteRule({ src: r.src, table: r.table, priority: r.priority });
        } catch (e) {
          failures.of(`Failed to delete rule from ${r.src ?? ''} lookup ${r.table}`)(e);
        }
      }
      failures.throwIfAny();
    } finally {
      ctr.close();
    }
  });
}
