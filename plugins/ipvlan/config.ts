/**
 * ipvlan configuration (reference: plugins/main/ipvlan NetConf), decoded with Go's rules, plus
 * our `vlan` key. ipvlan links share the master's MAC, so there is no `mac` key.
 */
import type { Invocation } from '../../lib/cni/dispatch';
import { ConfigError } from '../../lib/cni/errors';
import * as t from '../../lib/cni/schema';
import type { IpvlanMode } from '../../lib/netlink';
import { checkCommon, commonKeys, loadDelConfig, type SubLinkConfig } from '../../lib/sublink/config';
import { configuredDns } from '../../lib/cni/netconf';

const decoder = t.object(commonKeys);

const MODES: Readonly<Record<string, IpvlanMode>> = { '': 'l2', l2: 'l2', l3: 'l3', l3s: 'l3s' };

export function loadIpvlanConfig(inv: Invocation): SubLinkConfig {
  const c = t.parseWith(decoder, inv.config, 'ipvlan configuration');
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

export const loadIpvlanDelConfig = (inv: Invocation): ReturnType<typeof loadDelConfig> =>
  loadDelConfig(inv, 'ipvlan configuration');
