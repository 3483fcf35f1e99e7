/**
 * dhcp IPAM configuration (reference: plugins/ipam/dhcp/main.go, IPAMConfig): the daemon's
 * socket, the options to provide and to request, the route metric. Decoded and checked here, so
 * a bad key is code 7 before the daemon is asked anything.
 */
import type { NetConfig } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import * as t from '../../lib/cni/schema';
import { OptionError, prepareOptions, type LeaseOptions } from '../../lib/dhcp/options';
import { DEFAULT_SOCKET_PATH } from '../../lib/dhcp/protocol';

const optStr = t.optional(t.string);
const ipamDecoder = t.object({
  type: optStr,
  daemonSocketPath: optStr,
  provide: t.optional(t.array(t.object({ option: optStr, value: optStr, fromArg: optStr }))),
  request: t.optional(t.array(t.object({ skipDefault: t.optional(t.boolean), option: optStr }))),
  priority: t.optional(t.int),
});
const netDecoder = t.object({ ipam: t.optional(ipamDecoder) });
type IpamRaw = t.Decoded<typeof ipamDecoder>;

export interface DhcpSocketConfig {
  readonly socketPath: string;
}
export interface DhcpConfig extends DhcpSocketConfig {
  readonly options: LeaseOptions;
  readonly priority: number;
}

function ipamOf(config: NetConfig): IpamRaw {
  const net = t.parseWith(netDecoder, config, 'dhcp configuration');
  if (!net.ipam) throw new ConfigError("IPAM config missing 'ipam' key");
  return net.ipam;
}

/** Only the socket: what DEL, GC and STATUS need (they must work whatever the option keys say). */
export function loadSocketConfig(config: NetConfig): DhcpSocketConfig {
  return { socketPath: ipamOf(config).daemonSocketPath || DEFAULT_SOCKET_PATH };
}

export function loadConfig(config: NetConfig, cniArgs = ''): DhcpConfig {
  const ipam = ipamOf(config);
  let options: LeaseOptions;
  try {
    options = prepareOptions(cniArgs, ipam.provide ?? [], ipam.request ?? []);
  } catch (e) {
    if (e instanceof OptionError) throw new ConfigError(e.message);
    throw e;
  }
  return { socketPath: ipam.daemonSocketPath || DEFAULT_SOCKET_PATH, options, priority: ipam.priority ?? 0 };
}
