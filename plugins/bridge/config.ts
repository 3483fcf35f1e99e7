/**
 * bridge configuration (reference: plugins/main/bridge/bridge.go NetConf), decoded with Go's
 * rules (case-insensitive keys, strict types). Cross-key checks carry the reference's messages.
 */
import { parseCniArgs } from '../../lib/cni/args';
import type { NetConfig } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import { isValidLinkName } from '../../lib/cni/names';
import { configuredDns } from '../../lib/cni/netconf';
import { dnsDecoder } from '../../lib/cni/result/decode';
import type { DNS } from '../../lib/cni/result/types';
import * as t from '../../lib/cni/schema';
import { isBackend, type Backend } from '../../lib/firewall/backend';
import { normalizeMac } from '../../lib/net/mac';

const bool = t.optional(t.boolean);
const trunkDecoder = t.object({ id: t.optional(t.int), minID: t.optional(t.int), maxID: t.optional(t.int) });
const decoder = t.object({
  bridge: t.optional(t.string),
  isGateway: bool,
  isDefaultGateway: bool,
  forceAddress: bool,
  ipMasq: bool,
  ipMasqBackend: t.optional(t.string),
  mtu: t.optional(t.int),
  hairpinMode: bool,
  promiscMode: bool,
  vlan: t.optional(t.int),
  vlanTrunk: t.optional(t.array(trunkDecoder)),
  preserveDefaultVlan: bool,
  macspoofchk: bool,
  enabledad: bool,
  disableContainerInterface: bool,
  portIsolation: bool,
  ipam: t.optional(t.object({ type: t.optional(t.string) })),
  dns: t.optional(dnsDecoder),
  args: t.optional(t.object({ cni: t.optional(t.object({ mac: t.optional(t.string) })) })),
  runtimeConfig: t.optional(t.object({ mac: t.optional(t.string) })),
});

export interface BridgeConfig {
  readonly bridge: string;
  readonly isGateway: boolean;
  readonly isDefaultGateway: boolean;
  readonly forceAddress: boolean;
  readonly ipMasq: boolean;
  /** Undefined: choose like the reference (iptables if usable, else nftables). */
  readonly ipMasqBackend: Backend | undefined;
  readonly mtu: number;
  readonly hairpinMode: boolean;
  readonly promiscMode: boolean;
  readonly vlan: number;
  readonly vlanTrunk: readonly number[];
  readonly preserveDefaultVlan: boolean;
  readonly enabledad: boolean;
  readonly disableContainerInterface: boolean;
  readonly portIsolation: boolean;
  readonly macspoofchk: boolean;
  /** '' means L2 only (no IPAM). */
  readonly ipamType: string;
  readonly dns: DNS | undefined;
  /** Requested container MAC (runtimeConfig > args > CNI_ARGS), lower-case. */
  readonly mac: string | undefined;
}

function trunkIds(trunk: t.Decoded<typeof trunkDecoder>[] | undefined): number[] {
  const ids = new Set<number>();
  const valid = (n: number): boolean => n >= 1 && n <= 4094;
  for (const t of trunk ?? []) {
    if (t.id !== undefined) {
      if (!valid(t.id)) throw new ConfigError('incorrect trunk id parameter');
      ids.add(t.id);
    }
    if (t.minID !== undefined || t.maxID !== undefined) {
      if (t.minID === undefined)
        throw new ConfigError('minID and maxID should be configured simultaneously, minID is missing');
      if (t.maxID === undefined)
        throw new ConfigError('minID and maxID should be configured simultaneously, maxID is missing');
      if (!valid(t.minID)) throw new ConfigError('incorrect trunk minID parameter');
      if (!valid(t.maxID)) throw new ConfigError('incorrect trunk maxID parameter');
      if (t.minID > t.maxID) throw new ConfigError('minID is greater than maxID in trunk parameter');
      for (let i = t.minID; i <= t.maxID; i++) ids.add(i);
    }
  }
  return [...ids].sort((a, b) => a - b);
}

export function loadBridgeConfig(config: NetConfig, cniArgs = ''): BridgeConfig {
  const c = t.parseWith(decoder, config, 'bridge configuration');
  const bridge = c.bridge || 'cni0';
  if (!isValidLinkName(bridge)) throw new ConfigError('invalid bridge name', JSON.stringify(bridge));
  const vlan = c.vlan ?? 0;
  if (vlan < 0 || vlan > 4094) throw new ConfigError(`invalid VLAN ID ${vlan} (must be between 0 and 4094)`);
  if (c.hairpinMode && c.promiscMode)
    throw new ConfigError('cannot set hairpin mode and promiscuous mode at the same time');
  const mtu = c.mtu ?? 0;
  if (mtu < 0 || mtu > 65535) throw new ConfigError(`invalid MTU ${mtu}`);
  const ipamType = c.ipam?.type ?? '';
  if (c.disableContainerInterface && ipamType !== '')
    throw new ConfigError('cannot use IPAM when DisableContainerInterface flag is set');
  let backend: Backend | undefined;
  if (c.ipMasqBackend) {
    if (!isBackend(c.ipMasqBackend)) throw new ConfigError(`unknown ipmasq backend ${JSON.stringify(c.ipMasqBackend)}`);
    backend = c.ipMasqBackend;
  }
  const argsMac = parseCniArgs(cniArgs, ['MAC'])['MAC'];
  const rawMac = c.runtimeConfig?.mac || c.args?.cni?.mac || argsMac;
  let mac: string | undefined;
  if (rawMac) {
    mac = normalizeMac(rawMac);
    if (!mac) throw new ConfigError(`invalid MAC address ${JSON.stringify(rawMac)}`);
  }
  const dns = configuredDns(c.dns);
  return {
    bridge,
    isGateway: !!(c.isGateway || c.isDefaultGateway),
    isDefaultGateway: !!c.isDefaultGateway,
    forceAddress: !!c.forceAddress,
    ipMasq: !!c.ipMasq,
    ipMasqBackend: backend,
    mtu,
    hairpinMode: !!c.hairpinMode,
    promiscMode: !!c.promiscMode,
    vlan,
    vlanTrunk: trunkIds(c.vlanTrunk),
    preserveDefaultVlan: !!c.preserveDefaultVlan,
    enabledad: !!c.enabledad,
    disableContainerInterface: !!c.disableContainerInterface,
    portIsolation: !!c.portIsolation,
    macspoofchk: !!c.macspoofchk,
    ipamType,
    dns,
    mac,
  };
}
