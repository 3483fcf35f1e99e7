/**
 * tap configuration (reference: plugins/main/tap NetConf, v1.2+), decoded with Go's rules. The
 * MAC comes from the `mac` key, overridden by CNI_ARGS `MAC=`, overridden by runtimeConfig.mac,
 * as in the reference. IPAM is optional: without it the tap is layer 2 only.
 */
import { parseCniArgs } from '../../lib/cni/args';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ConfigError, ErrorCode } from '../../lib/cni/errors';
import { isValidLinkName } from '../../lib/cni/names';
import { configuredDns } from '../../lib/cni/netconf';
import { dnsDecoder } from '../../lib/cni/result/decode';
import type { DNS } from '../../lib/cni/result/types';
import * as t from '../../lib/cni/schema';
import { normalizeMac } from '../../lib/net/mac';

const decoder = t.object({
  mac: t.optional(t.string),
  mtu: t.optional(t.int),
  multiQueue: t.optional(t.boolean),
  owner: t.optional(t.uint),
  group: t.optional(t.uint),
  selinuxContext: t.optional(t.string),
  bridge: t.optional(t.string),
  ipam: t.optional(t.object({ type: t.optional(t.string) })),
  dns: t.optional(dnsDecoder),
  runtimeConfig: t.optional(t.object({ mac: t.optional(t.string) })),
});

export interface TapConfig {
  /** Lower-case; undefined = the kernel's random one. */
  readonly mac: string | undefined;
  /** 0 = the kernel's default (1500). */
  readonly mtu: number;
  readonly multiQueue: boolean;
  /** The user and group that may attach to the tap without CAP_NET_ADMIN; undefined = none. */
  readonly owner: number | undefined;
  readonly group: number | undefined;
  /** A bridge in the container's namespace the tap becomes a port of; '' = none. */
  readonly bridge: string;
  /** '' = layer 2 only. */
  readonly ipamType: string;
  readonly dns: DNS | undefined;
}

// (uid_t)-1 means "no owner" to the kernel, which refuses it as an owner.
const ID_MAX = 0xfffffffe;

function id(what: 'owner' | 'group', v: number | undefined): number | undefined {
  if (v !== undefined && v > ID_MAX)
    throw new ConfigError(`invalid ${what} ${v}`, `a ${what === 'owner' ? 'user' : 'group'} ID is 0 to ${ID_MAX}`);
  return v;
}

export function loadTapConfig(inv: Invocation): TapConfig {
  const c = t.parseWith(decoder, inv.config, 'tap configuration');
  if (c.selinuxContext)
    throw new CniError(
      ErrorCode.UnsupportedField,
      'selinuxContext is not supported',
      'tscni creates taps through /dev/net/tun from its own process; an SELinux label would need the exec of `ip tuntap` under that label the reference does',
    );
  if (c.mtu !== undefined && c.mtu < 0) throw new ConfigError(`invalid MTU ${c.mtu}`);
  if (c.bridge && !isValidLinkName(c.bridge))
    throw new ConfigError(`invalid bridge name ${JSON.stringify(c.bridge)}`, 'a link name has 1 to 15 bytes');
  const argsMac = parseCniArgs(inv.cniArgs, ['MAC'])['MAC'];
  const rawMac = c.runtimeConfig?.mac || argsMac || c.mac;
  let mac: string | undefined;
  if (rawMac) {
    mac = normalizeMac(rawMac);
    if (!mac) throw new ConfigError(`invalid args ${rawMac} for MAC addr: address ${rawMac}: invalid MAC address`);
  }
  return {
    mac,
    mtu: c.mtu ?? 0,
    multiQueue: !!c.multiQueue,
    owner: id('owner', c.owner),
    group: id('group', c.group),
    bridge: c.bridge ?? '',
    ipamType: c.ipam?.type ?? '',
    dns: configuredDns(c.dns),
  };
}
