/**
 * firewall configuration (reference: plugins/meta/firewall FirewallNetConf), decoded with Go's
 * rules. Every name that reaches a command is checked here: the admin chain, the firewalld zone,
 * and (in facts.ts) the bridge name and addresses from prevResult.
 */
import type { NetConfig } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import * as t from '../../lib/cni/schema';
import type { Backend } from '../../lib/firewall/backend';

export type FirewallBackend = Backend | 'firewalld';
export type IngressPolicy = 'open' | 'same-bridge' | 'isolated';

const decoder = t.object({
  backend: t.optional(t.string),
  iptablesAdminChainName: t.optional(t.string),
  firewalldZone: t.optional(t.string),
  ingressPolicy: t.optional(t.string),
  dataDir: t.optional(t.string),
  internal: t.optional(t.boolean),
});

export interface FirewallConfig {
  /** Undefined: as the reference, firewalld if it is running, else iptables (nftables where iptables is unusable). */
  readonly backend: FirewallBackend | undefined;
  readonly adminChain: string;
  readonly zone: string;
  readonly ingressPolicy: IngressPolicy;
  /** Where the plugin keeps its records (see records.ts). */
  readonly dataDir: string;
  /**
   * Ours: the network is internal (nothing routed into or out of its bridge). Undefined: decided
   * per ADD from the bridge (see lib/net/internal.ts): internal when it holds no address of the
   * containers' subnets, as podman's `network create --internal` writes it (`isGateway: false`).
   */
  readonly internal: boolean | undefined;
}

export const DEFAULT_DATA_DIR = '/var/lib/cni/tscni/firewall';
const CHAIN_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,27}$/;
/** Chains that must not be the admin chain: built-ins, and ours (CNI-FORWARD jumping to itself would loop). */
const RESERVED = new Set([
  'INPUT',
  'OUTPUT',
  'FORWARD',
  'PREROUTING',
  'POSTROUTING',
  'CNI-FORWARD',
  'CNI-ISOLATION-STAGE-1',
  'CNI-ISOLATION-STAGE-2',
]);
const ZONE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
export const isAdminChainName = (s: string): boolean => CHAIN_RE.test(s) && !RESERVED.has(s);
export const isZoneName = (s: string): boolean => ZONE_RE.test(s);

export function loadFirewallConfig(config: NetConfig): FirewallConfig {
  const c = t.parseWith(decoder, config, 'firewall configuration');
  let backend: FirewallBackend | undefined;
  if (c.backend) {
    if (c.backend !== 'iptables' && c.backend !== 'nftables' && c.backend !== 'firewalld')
      throw new ConfigError(
        `unknown firewall backend ${JSON.stringify(c.backend)}`,
        'backend must be "iptables", "firewalld" or "nftables"',
      );
    backend = c.backend;
  }
  const adminChain = c.iptablesAdminChainName || 'CNI-ADMIN';
  if (!isAdminChainName(adminChain))
    throw new ConfigError(
      `invalid iptablesAdminChainName ${JSON.stringify(adminChain)}`,
      'a chain name of at most 28 letters, digits, "_", "." or "-", not a built-in or CNI-FORWARD chain',
    );
  if (backend === 'nftables' && c.iptablesAdminChainName)
    throw new ConfigError(
      'nftables backend was requested but configuration contains iptables-specific options [iptablesAdminChainName]',
      'with nftables the admin chain is "admin" in table inet tscni_firewall',
    );
  const zone = c.firewalldZone || 'trusted';
  if (!isZoneName(zone)) throw new ConfigError(`invalid firewalldZone ${JSON.stringify(zone)}`);
  const policy = c.ingressPolicy || 'open';
  if (policy !== 'open' && policy !== 'same-bridge' && policy !== 'isolated')
    throw new ConfigError(
      `unknown ingress policy: ${JSON.stringify(policy)}`,
      'ingressPolicy must be "open", "same-bridge" or "isolated"',
    );
  const dataDir = c.dataDir || DEFAULT_DATA_DIR;
  if (!dataDir.startsWith('/') || dataDir.includes('\0') || dataDir.split('/').includes('..'))
    throw new ConfigError(`invalid dataDir ${JSON.stringify(dataDir)}`, 'an absolute path without ".."');
  return { backend, adminChain, zone, ingressPolicy: policy, dataDir, internal: c.internal ?? undefined };
}
