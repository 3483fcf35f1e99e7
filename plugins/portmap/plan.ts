/** Turns config + container addresses into the request a firewall driver applies. */
import type { Invocation } from '../../lib/cni/dispatch';
import type { Attachment, ContainerAddress, PortForwardRequest } from '../../lib/firewall/driver';
import type { PortmapConfig } from './config';

export const attachmentOf = (inv: Invocation): Attachment => ({
  networkName: inv.networkName,
  containerId: inv.containerId,
  ifName: inv.ifName,
});

export function requestFor(
  inv: Invocation,
  cfg: PortmapConfig,
  containers: readonly ContainerAddress[],
): PortForwardRequest {
  return {
    attachment: attachmentOf(inv),
    containers,
    mappings: cfg.mappings,
    snat: cfg.snat,
    masqAll: cfg.masqAll,
    markMasqBit: cfg.markMasqBit,
    externalSetMarkChain: cfg.externalSetMarkChain,
    conditionsV4: cfg.conditionsV4,
    conditionsV6: cfg.conditionsV6,
  };
}
