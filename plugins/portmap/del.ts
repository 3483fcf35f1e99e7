/**
 * portmap DEL: removes this container's forwarding by (network, container[, ifname]) — also when
 * the runtime does not resend portMappings (the reference then does nothing) — in both backends
 * that are usable, and flushes the UDP conntrack entries of the mappings it removed. Idempotent.
 */
import type { Invocation } from '../../lib/cni/dispatch';
import { nftablesUsable } from '../../lib/nat/backend';
import { isSixSet, type NftElement } from '../../lib/nat/portmap-nft';
import type { PortMapping } from '../../lib/nat/portmap-iptables';
import { flushUdpConntrack } from '../../lib/nat/conntrack';
import { concurrently } from '../../lib/undo';
import { loadPortmapConfig } from './config';
import { teardownIptables } from './iptables';
import { teardownNft } from './nftables';

export async function del(inv: Invocation): Promise<void> {
  const cfg = loadPortmapConfig(inv);
  // Both families and the nftables table are independent: all at once. No probe runs first: a
  // backend that is not usable here has nothing to remove (its read finds nothing), and its
  // failure counts only where the probe says the backend is usable.
  const iptables = async (six: boolean): Promise<PortMapping[] | undefined> =>
    cfg.backend === 'nftables' ? undefined : teardownIptables(inv.networkName, inv.containerId, six);
  const nft = async (): Promise<NftElement[]> => {
    if (cfg.backend === 'iptables') return [];
    try {
      return await teardownNft(inv.networkName, inv.containerId, inv.ifName);
    } catch (e) {
      if (await nftablesUsable()) throw e;
      return [];
    }
  };
  const [v4, v6, elements] = await concurrently(iptables(false), iptables(true), nft());
  // UDP conntrack entries can only point at the container in a family where it was forwarded.
  await concurrently(
    ...[false, true].map(async (six) => {
      const had = six ? v6 : v4;
      if (had === undefined && !elements.some((e) => isSixSet(e.set) === six)) return;
      await flushUdpConntrack(cfg.mappingsGiven ? cfg.mappings : (had ?? cfg.mappings), six);
    }),
  );
}
