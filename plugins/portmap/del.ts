/**
 * portmap DEL: removes this container's forwarding by (network, container[, ifname]) — also when
 * the runtime does not resend portMappings (the reference then does nothing) — in both backends
 * that are usable, and flushes the UDP conntrack entries of the mappings it removed. Idempotent.
 */
import type { Invocation } from '../../lib/cni/dispatch';
import { iptablesUsable, nftablesUsable } from '../../lib/nat/backend';
import { flushUdpConntrack } from '../../lib/nat/conntrack';
import { loadPortmapConfig } from './config';
import { teardownIptables } from './iptables';
import { teardownNft } from './nftables';

export async function del(inv: Invocation): Promise<void> {
  const cfg = loadPortmapConfig(inv);
  const tryIpt = cfg.backend !== 'nftables' && (await iptablesUsable());
  const tryNft = cfg.backend !== 'iptables' && (await nftablesUsable());
  for (const six of [false, true]) {
    let removed = cfg.mappings;
    if (tryIpt && (!six || (await iptablesUsable(undefined, 6)))) {
      const had = await teardownIptables(inv.networkName, inv.containerId, six);
      if (!cfg.mappingsGiven) removed = had;
    }
    await flushUdpConntrack(removed, six);
  }
  if (tryNft) await teardownNft(inv.networkName, inv.containerId, inv.ifName);
}
