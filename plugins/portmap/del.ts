/**
 * portmap DEL: removes this container's forwarding by (network, container) — also when the
 * runtime does not resend portMappings (the reference then does nothing) — and flushes the
 * UDP conntrack entries of the mappings it removed. Idempotent.
 */
import type { Invocation } from '../../lib/cni/dispatch';
import { iptablesUsable } from '../../lib/nat/backend';
import { flushUdpConntrack } from '../../lib/nat/conntrack';
import { loadPortmapConfig } from './config';
import { teardownIptables } from './iptables';

export async function del(inv: Invocation): Promise<void> {
  const cfg = loadPortmapConfig(inv);
  const tryIpt = cfg.backend === 'iptables' || (cfg.backend === undefined && (await iptablesUsable()));
  for (const six of [false, true]) {
    let removed = cfg.mappings;
    if (tryIpt && (!six || (await iptablesUsable(undefined, 6)))) {
      const had = await teardownIptables(inv.networkName, inv.containerId, six);
      if (!cfg.mappingsGiven) removed = had;
    }
    await flushUdpConntrack(removed, six);
  }
}
