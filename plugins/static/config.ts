/**
 * static IPAM configuration (reference: plugins/ipam/static LoadIPAMConfig). The addresses are
 * `ipam.addresses`, then CNI_ARGS `IP=` (comma-separated CIDRs, with `GATEWAY=` given to those
 * of them it lies in); `args.cni.ips` replaces them all, and `runtimeConfig.ips` (capability
 * `ips`) replaces those. Messages are the reference's; bad config is code 7.
 */
import { parseCniArgs } from '../../lib/cni/args';
import type { NetConfig } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import { configRoutes, configuredDns } from '../../lib/cni/netconf';
import { dnsDecoder, routeDecoder } from '../../lib/cni/result/decode';
import type { DNS, IPConfig, Route } from '../../lib/cni/result/types';
import * as t from '../../lib/cni/schema';
import { versionAtLeast } from '../../lib/cni/version';
import { formatCIDR, formatIP, hostMask, parseCIDR, parseIP, type Addr, type Cidr } from '../../lib/addr/ip';

const optStr = t.optional(t.string);
const ipList = t.optional(t.array(t.string));
const ipamDecoder = t.object({
  type: optStr,
  addresses: t.optional(t.array(t.object({ address: optStr, gateway: optStr }))),
  routes: t.optional(t.array(t.optional(routeDecoder))),
  dns: t.optional(dnsDecoder),
});
const netDecoder = t.object({
  cniVersion: optStr,
  ipam: t.optional(ipamDecoder),
  runtimeConfig: t.optional(t.object({ ips: ipList })),
  args: t.optional(t.object({ cni: t.optional(t.object({ ips: ipList })) })),
});

export interface StaticAddress {
  readonly cidr: Cidr;
  readonly gateway?: Addr;
}

export interface StaticConfig {
  readonly addresses: readonly StaticAddress[];
  readonly routes: readonly Route[];
  readonly dns: DNS | undefined;
}

const contains = (c: Cidr, a: Addr): boolean =>
  a.family === c.addr.family &&
  (a.value & ~hostMask(a.family, c.prefix)) === (c.addr.value & ~hostMask(c.addr.family, c.prefix));

function cidrOr(text: string, message: string): Cidr {
  const c = parseCIDR(text);
  if (!c) throw new ConfigError(message);
  return c;
}

/** Addresses a runtime asked for: each must be a CIDR; they replace all others. */
const requested = (list: readonly string[]): StaticAddress[] =>
  list.map((s) => ({ cidr: cidrOr(s, `an entry in the 'ips' field is NOT in CIDR notation, got: '${s}'`) }));

export function loadStaticConfig(config: NetConfig, cniArgs = ''): StaticConfig {
  const net = t.parseWith(netDecoder, config, 'static IPAM configuration');
  const ipam = net.ipam;
  if (!ipam) throw new ConfigError("IPAM config missing 'ipam' key");

  // Config addresses are checked after the CNI_ARGS ones are appended, as in the reference.
  const pending: Array<{ text: string; gateway?: Addr } | StaticAddress> = [];
  for (const a of ipam.addresses ?? []) {
    let gateway: Addr | undefined;
    if (a.gateway) {
      gateway = parseIP(a.gateway);
      if (!gateway) throw new ConfigError(`invalid IP address: ${a.gateway}`);
    }
    pending.push({ text: a.address ?? '', gateway });
  }

  const env = parseCniArgs(cniArgs, ['IP', 'GATEWAY']);
  const fromArgs: Array<{ cidr: Cidr; gateway?: Addr }> = [];
  for (const item of env['IP'] ? env['IP'].split(',') : []) {
    const text = item.trim();
    fromArgs.push({ cidr: cidrOr(text, `the 'ip' field is expected to be in CIDR notation, got: '${text}'`) });
  }
  for (const item of env['GATEWAY'] ? env['GATEWAY'].split(',') : []) {
    const gw = parseIP(item.trim());
    if (!gw) throw new ConfigError(`invalid gateway address: ${item}`);
    // Only the CNI_ARGS addresses take it (the reference's config addresses are not parsed yet here).
    for (const a of fromArgs) if (contains(a.cidr, gw)) a.gateway = gw;
  }
  pending.push(...fromArgs);

  let chosen: ReadonlyArray<{ text: string; gateway?: Addr } | StaticAddress> = pending;
  if (net.args?.cni?.ips?.length) chosen = requested(net.args.cni.ips);
  if (net.runtimeConfig?.ips?.length) chosen = requested(net.runtimeConfig.ips);

  const addresses: StaticAddress[] = chosen.map((a) =>
    'cidr' in a
      ? a
      : {
          cidr: cidrOr(a.text, `the 'address' field is expected to be in CIDR notation, got: '${a.text}'`),
          gateway: a.gateway,
        },
  );
  const v4 = addresses.filter((a) => a.cidr.addr.family === 4).length;
  // The dispatcher reads a missing or empty cniVersion as 0.1.0.
  if ((v4 > 1 || addresses.length - v4 > 1) && !versionAtLeast(net.cniVersion || '0.1.0', '0.3.0'))
    throw new ConfigError(`CNI version ${net.cniVersion ?? ''} does not support more than 1 address per family`);

  return { addresses, routes: configRoutes(ipam.routes), dns: configuredDns(ipam.dns) };
}

/** The result's form of an address: the host address kept, with its gateway. */
export function ipConfigOf(a: StaticAddress): IPConfig {
  const ip: IPConfig = { address: formatCIDR(a.cidr.addr, a.cidr.prefix) };
  if (a.gateway) ip.gateway = formatIP(a.gateway);
  return ip;
}
