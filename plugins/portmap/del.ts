/**
 * portmap DEL: removes this container's forwarding by (network, container[, ifname]) — also when
 * the runtime does not resend portMappings (the reference then does nothing) — in every backend
 * the config allows, and flushes the UDP conntrack entries of the mappings it removed. Idempotent.
 * With prevResult and portMappings, the iptables rules go in one restore per family, unread.
 */
import { FAMILIES } from '../../lib/addr/ip';
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { BACKENDS } from '../../lib/firewall/backend';
import { flushUdpConntrack } from '../../lib/firewall/conntrack';
import { inEveryBackend } from '../../lib/firewall/driver';
import { concurrently } from '../../lib/async';
import { loadPortmapConfig } from './config';
import { containerIPs } from './container-ips';
import { requestFor } from './plan';
import { prevResultOf } from '../../lib/cni/netconf';
import { markTeardown } from '../../lib/state/marks';

export async function del(inv: Invocation, runner: Runner = defaultRunner()): Promise<void> {
  const cfg = loadPortmapConfig(inv.config);
  markTeardown(inv.env, attachmentOf(inv)); // before any rule goes (lib/state/marks.ts)
  // What ADD was given (prevResult's addresses, the mappings) lets iptables remove the rules
  // without reading them first and skip a family without an address; without it, or when
  // something differs, the chains are read and whatever is there goes.
  const prev =
    cfg.mappingsGiven && cfg.mappings.length > 0 ? prevResultOf(inv.config, inv.cniVersion, true) : undefined;
  const ips = prev ? containerIPs(prev, inv.ifName) : [];
  const expected = ips.length > 0 ? requestFor(attachmentOf(inv), cfg, ips) : undefined;
  // Both families and both backends are independent: all at once. No probe runs first: a backend
  // that is not usable here has nothing to remove, and its failure counts only where the probe
  // says it is usable.
  const removed = await inEveryBackend(
    runner,
    (d) => d.portForwarding.teardown(attachmentOf(inv), expected),
    cfg.backend ? [cfg.backend] : BACKENDS,
  );
  // UDP conntrack entries can only point at the container in a family where it was forwarded.
  await concurrently(
    ...FAMILIES.map(async (fam) => {
      const had = removed.flatMap((r) => (r?.has(fam) ? [r.get(fam) ?? []] : []));
      if (had.length === 0) return;
      await flushUdpConntrack(runner, cfg.mappingsGiven ? cfg.mappings : had.flat(), fam);
    }),
  );
}
