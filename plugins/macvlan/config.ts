/**
 * macvlan configuration (reference: plugins/main/macvlan NetConf), decoded with Go's rules, plus
 * our `vlan` key. The MAC comes from runtimeConfig.mac, else CNI_ARGS `MAC=`, else the `mac`
 * key, as in the reference.
 */
import { parseCniArgs } from '../../lib/cni/args';
import type { NetConfig } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import * as t from '../../lib/cni/schema';
import { normalizeMac } from '../../lib/net/mac';
import type { MacvlanMode } from '../../lib/netlink';
import { checkCommon, commonKeys, loadDelConfig, type SubLinkConfig } from '../../lib/sublink/config';
import { configuredDns } from '../../lib/cni/netconf';

const decoder = t.object({
  ...commonKeys,
  mac: t.optional(t.string),
  bcqueuelen: t.optional(t.uint),
  runtimeConfig: t.optional(t.object({ mac: t.optional(t.string) })),
});

/** The modes the reference accepts ('' is bridge); `source` is the kernel's but not a CNI mode. */
const MODES: Readonly<Record<string, MacvlanMode>> = {
  '': 'bridge',
  bridge: 'bridge',
  private: 'private',
  vepa: 'vepa',
  passthru: 'passthru',
};

export function loadMacvlanConfig(config: NetConfig, cniArgs = ''): SubLinkConfig {
  const c = t.parseWith(decoder, config, 'macvlan configuration');
  checkCommon(c);
  const mode = Object.prototype.hasOwnProperty.call(MODES, c.mode ?? '') ? MODES[c.mode ?? ''] : undefined;
  if (!mode) throw new ConfigError(`unknown macvlan mode: ${JSON.stringify(c.mode)}`);
  if (c.bcqueuelen !== undefined && c.bcqueuelen > 0xffffffff)
    throw new ConfigError(`invalid bcqueuelen ${c.bcqueuelen}`);
  const argsMac = parseCniArgs(cniArgs, ['MAC'])['MAC'];
  const rawMac = c.runtimeConfig?.mac || argsMac || c.mac;
  let mac: string | undefined;
  if (rawMac) {
    mac = normalizeMac(rawMac);
    if (!mac) throw new ConfigError(`invalid args ${rawMac} for MAC addr: address ${rawMac}: invalid MAC address`);
  }
  return {
    kind: 'macvlan',
    master: c.master ?? '',
    vlan: c.vlan ?? 0,
    mode,
    mtu: c.mtu ?? 0,
    mac,
    bcQueueLen: c.bcqueuelen || undefined,
    linkInContainer: !!c.linkInContainer,
    ipamType: c.ipam?.type ?? '',
    dns: configuredDns(c.dns),
  };
}

export const loadMacvlanDelConfig = (config: NetConfig): ReturnType<typeof loadDelConfig> =>
  loadDelConfig(config, 'macvlan configuration');
