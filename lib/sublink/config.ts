/**
 * What macvlan and ipvlan share: a link of a master (lower) device, born in the container's
 * namespace. Each plugin's config.ts decodes its keys into this shape; the verbs in this folder
 * work on it.
 */
import type { Attachment, NetConfig } from '../cni/invocation';
import { ConfigError } from '../cni/errors';
import { isValidLinkName } from '../cni/names';
import { dnsDecoder } from '../cni/result/decode';
import type { DNS } from '../cni/result/types';
import * as t from '../cni/schema';
import type { IpvlanMode, MacvlanMode } from '../netlink';
import { vlanSpec, type VlanUser } from '../net/vlan';

export type SubLinkKind = 'macvlan' | 'ipvlan';

export interface SubLinkConfig {
  readonly kind: SubLinkKind;
  /** The configured master; '' means the default route's link (or, for ipvlan, prevResult's interface). */
  readonly master: string;
  /** Our `vlan` key: the master becomes the 802.1Q sub-interface `<master>.<vlan>`; 0 = none. */
  readonly vlan: number;
  readonly mode: MacvlanMode | IpvlanMode;
  /** 0 = the master's MTU. */
  readonly mtu: number;
  /** Requested container MAC (macvlan), lower-case. */
  readonly mac: string | undefined;
  /** macvlan broadcast queue length. */
  readonly bcQueueLen: number | undefined;
  /** The master lives in the container's namespace. */
  readonly linkInContainer: boolean;
  /** '' = no IPAM (macvlan: layer 2 only). */
  readonly ipamType: string;
  readonly dns: DNS | undefined;
}

/** Keys both plugins read, decoded with Go's rules. */
export const commonKeys = {
  master: t.optional(t.string),
  mode: t.optional(t.string),
  mtu: t.optional(t.int),
  linkInContainer: t.optional(t.boolean),
  vlan: t.optional(t.int),
  ipam: t.optional(t.object({ type: t.optional(t.string) })),
  dns: t.optional(dnsDecoder),
};

/** Checks shared by both loaders; returns the master name as configured. */
export function checkCommon(c: { master?: string; vlan?: number; linkInContainer?: boolean }): void {
  if (c.master && !isValidLinkName(c.master))
    throw new ConfigError(`invalid master name ${JSON.stringify(c.master)}`, 'a link name has 1 to 15 bytes');
  if (c.vlan !== undefined) {
    if (c.linkInContainer)
      throw new ConfigError('"vlan" cannot be used with "linkInContainer": the sub-interface is made on the host');
    // The name is checked again with the real master once it is known (default route).
    vlanSpec(c.master || 'x', c.vlan);
  }
}

/** What DEL needs: it must work even with a config whose values ADD would reject. */
export interface SubLinkDelConfig {
  readonly ipamType: string;
  readonly linkInContainer: boolean;
}

const delDecoder = t.object({
  linkInContainer: t.optional(t.boolean),
  ipam: t.optional(t.object({ type: t.optional(t.string) })),
});

export function loadDelConfig(config: NetConfig, what: string): SubLinkDelConfig {
  const c = t.parseWith(delDecoder, config, what);
  return { ipamType: c.ipam?.type ?? '', linkInContainer: !!c.linkInContainer };
}

/** The VLAN user an attachment stands for. */
export const vlanUserOf = (a: Attachment): VlanUser => ({
  network: a.networkName,
  containerId: a.containerId,
  ifName: a.ifName,
});
