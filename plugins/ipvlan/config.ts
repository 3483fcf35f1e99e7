/**
 * ipvlan configuration (reference: plugins/main/ipvlan NetConf), decoded with Go's rules, plus
 * our `vlan` key. ipvlan links share the master's MAC, so there is no `mac` key.
 */
import type { NetConfig } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import * as t from '../../lib/cni/schema';
import type { IpvlanMode } from '../../lib/netlink';
import { checkCommon, commonKeys, loadDelConfig, type SubLinkConfig } from '../../lib/sublink/config';
import { configuredDns } from '../../lib/cni/netconf';

const decoder = t.object(commonKeys);

const MODES: Readonly<Record<string, IpvlanMode>> = { '': 'l2', l2: 'l2', l3: 'l3', l3s: 'l3s' };

export function loadIpvlanConfig(config: NetConfig): SubLinkConfig {
  const c = t.parseWith(decoder, config, 'ipvlan configuration');
  checkCommon(c);
  const mode = Object.prototype.hasOwnProperty.call(MODES, c.mode ?? '') ? MODES[c.mode ?? ''] : undefined;
  if (!mode) throw new ConfigError(`unknown ipvlan mode: ${JSON.stringify(c.mode)}`);
  return {
    kind: 'ipvlan',
    master: c.master ?? '',
    vlan: c.vlan ?? 0,
    mode,
    mtu: c.mtu ?? 0,
    mac: undefined,
    bcQueueLen: undefined,
    linkInContainer: !!c.linkInContainer,
    ipamType: c.ipam?.type ?? '',
    dns: configuredDns(c.dns),
  };
}

export const loadIpvlanDelConfig = (config: NetConfig): ReturnType<typeof loadDelConfig> =>
  loadDelConfig(config, 'ipvlan configuration');
