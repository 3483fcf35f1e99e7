/**
 * vlan configuration (reference: plugins/main/vlan NetConf), decoded with Go's rules: an 802.1Q
 * link of `master` with ID `vlanId`, moved into the container. IPAM is required.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import { isValidLinkName } from '../../lib/cni/names';
import { configuredDns } from '../../lib/cni/netconf';
import { dnsDecoder } from '../../lib/cni/result/decode';
import type { DNS } from '../../lib/cni/result/types';
import * as t from '../../lib/cni/schema';

const decoder = t.object({
  master: t.optional(t.string),
  vlanId: t.optional(t.int),
  mtu: t.optional(t.int),
  linkInContainer: t.optional(t.boolean),
  ipam: t.optional(t.object({ type: t.optional(t.string) })),
  dns: t.optional(dnsDecoder),
});

export interface VlanConfig {
  readonly master: string;
  /** 0–4094; 0 tags priority only. */
  readonly vlanId: number;
  /** 0 = the master's MTU; never above it. */
  readonly mtu: number;
  /** The master lives in the container's namespace. */
  readonly linkInContainer: boolean;
  readonly ipamType: string;
  readonly dns: DNS | undefined;
}

export function loadVlanConfig(inv: Invocation): VlanConfig {
  const c = t.parseWith(decoder, inv.config, 'vlan configuration');
  if (!c.master)
    throw new ConfigError('"master" field is required. It specifies the host interface name to create the VLAN for');
  if (!isValidLinkName(c.master))
    throw new ConfigError(`invalid master name ${JSON.stringify(c.master)}`, 'a link name has 1 to 15 bytes');
  const vlanId = c.vlanId ?? 0;
  if (vlanId < 0 || vlanId > 4094)
    throw new ConfigError(`invalid VLAN ID ${vlanId} (must be between 0 and 4094 inclusive)`);
  if (c.mtu !== undefined && c.mtu < 0) throw new ConfigError(`invalid MTU ${c.mtu}, must be [0, master MTU]`);
  return {
    master: c.master,
    vlanId,
    mtu: c.mtu ?? 0,
    linkInContainer: !!c.linkInContainer,
    ipamType: c.ipam?.type ?? '',
    dns: configuredDns(c.dns),
  };
}

/** ADD and STATUS need an IPAM plugin: the VLAN interface gets its addresses from it. */
export function requireIpam(cfg: VlanConfig): string {
  if (cfg.ipamType === '') throw new ConfigError('vlan needs an "ipam" section (no plugin name provided)');
  return cfg.ipamType;
}
