/**
 * portmap configuration (reference: plugins/meta/portmap/main.go). Port mappings come from
 * runtimeConfig.portMappings; containerd sends `HostPort`, podman `hostPort` (the decoder folds both).
 */
import type { NetConfig } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import * as t from '../../lib/cni/schema';
import { parseIP, formatIP } from '../../lib/addr/ip';
import { isBackend, type Backend } from '../../lib/firewall/backend';
import type { PortMapping } from '../../lib/firewall/driver';

const mappingDecoder = t.object({
  hostPort: t.int,
  containerPort: t.int,
  protocol: t.optional(t.string),
  hostIP: t.optional(t.string),
});
const decoder = t.object({
  snat: t.optional(t.boolean),
  masqAll: t.optional(t.boolean),
  markMasqBit: t.optional(t.int),
  externalSetMarkChain: t.optional(t.string),
  conditionsV4: t.optional(t.array(t.string)),
  conditionsV6: t.optional(t.array(t.string)),
  backend: t.optional(t.string),
  runtimeConfig: t.optional(t.object({ portMappings: t.optional(t.array(mappingDecoder)) })),
});

export interface PortmapConfig {
  readonly mappings: readonly PortMapping[];
  /** True when the runtime sent a portMappings list at all (DEL works without one). */
  readonly mappingsGiven: boolean;
  readonly snat: boolean;
  readonly masqAll: boolean;
  readonly markMasqBit: number;
  readonly externalSetMarkChain: string | undefined;
  readonly conditionsV4: readonly string[];
  readonly conditionsV6: readonly string[];
  /** Undefined: choose like the reference. */
  readonly backend: Backend | undefined;
}

const CHAIN_RE = /^[A-Za-z0-9_.-]{1,28}$/;
const COND_RE = /^[^\n\r"]*$/;

export function loadPortmapConfig(config: NetConfig): PortmapConfig {
  const c = t.parseWith(decoder, config, 'portmap configuration');
  const mappings = (c.runtimeConfig?.portMappings ?? []).map((m): PortMapping => {
    if (m.containerPort <= 0 || m.containerPort > 65535)
      throw new ConfigError(`Invalid container port number: ${m.containerPort}`);
    if (m.hostPort <= 0 || m.hostPort > 65535) throw new ConfigError(`Invalid host port number: ${m.hostPort}`);
    const protocol = (m.protocol || 'tcp').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp')
      throw new ConfigError(`Invalid protocol ${JSON.stringify(m.protocol)}`, 'protocol must be tcp, udp or sctp');
    let hostIP = '';
    if (m.hostIP) {
      const a = parseIP(m.hostIP);
      if (!a) throw new ConfigError(`Invalid host IP ${JSON.stringify(m.hostIP)}`);
      hostIP = formatIP(a);
    }
    return { hostPort: m.hostPort, containerPort: m.containerPort, protocol, hostIP };
  });
  if (c.markMasqBit != null && c.externalSetMarkChain)
    throw new ConfigError('Cannot specify externalSetMarkChain and markMasqBit');
  const bit = c.markMasqBit ?? 13;
  if (bit < 0 || bit > 31) throw new ConfigError('MasqMarkBit must be between 0 and 31');
  if (c.externalSetMarkChain && !CHAIN_RE.test(c.externalSetMarkChain))
    throw new ConfigError(`invalid externalSetMarkChain ${JSON.stringify(c.externalSetMarkChain)}`);
  const conds = [...(c.conditionsV4 ?? []), ...(c.conditionsV6 ?? [])];
  if (!conds.every((s) => COND_RE.test(s)))
    throw new ConfigError('conditions must not contain newlines or double quotes');
  let backend: Backend | undefined;
  if (c.backend) {
    if (!isBackend(c.backend)) throw new ConfigError(`unrecognized backend ${JSON.stringify(c.backend)}`);
    backend = c.backend;
  }
  const iptablesOnly = [
    c.externalSetMarkChain ? 'externalSetMarkChain' : '',
    c.markMasqBit != null ? 'markMasqBit' : '',
  ].filter(Boolean);
  if (backend === 'nftables' && conds.length) iptablesOnly.push('conditionsV4/conditionsV6');
  if (backend === 'nftables' && iptablesOnly.length) {
    throw new ConfigError(
      `nftables backend was requested but configuration contains iptables-specific options [${iptablesOnly.join(' ')}]`,
    );
  }
  return {
    mappings,
    mappingsGiven: !!c.runtimeConfig?.portMappings,
    snat: c.snat ?? true,
    masqAll: !!c.masqAll,
    markMasqBit: bit,
    externalSetMarkChain: c.externalSetMarkChain ?? undefined,
    conditionsV4: c.conditionsV4 ?? [],
    conditionsV6: c.conditionsV6 ?? [],
    backend,
  };
}
