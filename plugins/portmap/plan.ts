/** Turns config + container addresses into the request a firewall driver applies. */
import type { Attachment } from '../../lib/cni/invocation';
import type { ContainerAddress, PortForwardRequest } from '../../lib/firewall/driver';
import type { PortmapConfig } from './config';

export function requestFor(
  attachment: Attachment,
  cfg: PortmapConfig,
  containers: readonly ContainerAddress[],
): PortForwardRequest {
  return {
    attachment,
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
