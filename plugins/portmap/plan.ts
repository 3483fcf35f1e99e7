/** Turns config + container address into the per-family plans the backends apply. */
import type { Invocation } from '../../lib/cni/dispatch';
import type { PortmapPlan } from '../../lib/nat/portmap-iptables';
import { ownerComment, type NftPlan } from '../../lib/nat/portmap-nft';
import type { PortmapConfig } from './config';
import type { ContainerIP } from './container-ips';

export function planFor(inv: Invocation, cfg: PortmapConfig, ip: ContainerIP): PortmapPlan {
  return {
    networkName: inv.networkName,
    containerId: inv.containerId,
    six: ip.six,
    containerIP: ip.address,
    prefix: ip.prefix,
    mappings: cfg.mappings,
    snat: cfg.snat,
    masqAll: cfg.masqAll,
    markMasqBit: cfg.markMasqBit,
    externalSetMarkChain: cfg.externalSetMarkChain,
    conditions: ip.six ? cfg.conditionsV6 : cfg.conditionsV4,
  };
}

export function nftPlanFor(inv: Invocation, cfg: PortmapConfig, ip: ContainerIP): NftPlan {
  return {
    owner: ownerComment(inv.networkName, inv.containerId, inv.ifName),
    six: ip.six,
    containerIP: ip.address,
    mappings: cfg.mappings,
    snat: cfg.snat,
    masqAll: cfg.masqAll,
  };
}
