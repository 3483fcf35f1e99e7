/**
 * portmap DEL: removes this container's forwarding by (network, container[, ifname]) — also when
 * the runtime does not resend portMappings (the reference then does nothing) — in both backends
 * that are usable, and flushes the UDP conntrack entries of the mappings it removed. Idempotent.
 */
import type { Invocation } from '../../lib/cni/dispatch';
import { iptablesUsable, nftablesUsable } from '../../lib/nat/backend';
import { flushUdpConntrack } from '../../lib/nat/conntrack';
import { concurrently } from '../../lib/undo';
import { loadPortmapConfig } from './config';
import { teardownIptables } from './iptables';
import { teardownNft } from './nftables';

export async function del(inv: Invocation): Promise<void> {
  const cfg = loadPortmapConfig(inv);
  const [tryIpt, tryIpt6, tryNft] = await concurrently(
    cfg.backend !== 'nftables' ? iptablesUsable() : Promise.resolve(false),
    cfg.backend !== 'nftables' ? iptablesUsable(undefined, 6) : Promise.resolve(false),
    cfg.backend !== 'iptables' ? nftablesUsable() : Promise.resolve(false),
  );
  // Both families and the nftables table are independent: all at once.
  const family = async (six: boolean): Promise<void> => {
    let removed = cfg.mappings;
    if (six ? tryIpt && tryIpt6 : tryIpt) {
      const had = await teardownIptables(inv.networkName, inv.containerId, six);
      if (!cfg.mappingsGiven) removed = had;
    }
    await flushUdpConntrack(removed, six);
  };
  await concurrently(family(false), family(true), tryNft ? teardownNft(inv.networkName, inv.containerId, inv.ifName) : Promise.resolve());
}
