/**
 * Putting a container's IP configuration on its interface — addresses, link up, routes — the
 * step every interface plugin (bridge, ptp, macvlan, ...) ends with, as the reference's
 * ConfigureIface does. Synchronous netlink calls on a socket inside the container's namespace.
 */
import { familyOfText, type Family } from '../addr/ip';
import { CniError, ErrorCode } from '../cni/errors';
import type { IPConfig, Route } from '../cni/result/types';
import type { Rtnl } from '../netlink';
import type { Kernel } from './kernel';
import { settleIPv6 } from './settle';
import type { SysctlValues } from './sysctl';

export interface InterfaceConfig {
  readonly ips: readonly IPConfig[];
  readonly routes: readonly Route[];
  /** The gateway a route without `gw` goes through, per family. */
  readonly gateways: ReadonlyMap<Family, string>;
  /** IPv6 addresses usable at once (no duplicate address detection). */
  readonly nodad: boolean;
  /** Bring the link up (false leaves it down, e.g. bridge's disableContainerInterface). */
  readonly up: boolean;
}

/** Configures `ifName` in the namespace of `ctr`; returns the link's index. */
export function configureInterface(ctr: Rtnl, ifName: string, c: InterfaceConfig): number {
  const link = ctr.linkByName(ifName);
  if (!link) throw new CniError(ErrorCode.Internal, `failed to lookup ${JSON.stringify(ifName)}: link not found`);
  for (const ip of c.ips) ctr.addAddr(link.index, ip.address, { nodad: c.nodad && familyOfText(ip.address) === 6 });
  if (c.up) ctr.setUp(link.index);
  addRoutes(ctr, link.index, c.routes, c.gateways);
  return link.index;
}

/**
 * Adds result routes through the link `index`; a route without `gw` goes through its family's
 * gateway. Apart from configureInterface for callers that must wait between addresses and routes
 * (IPv6 DAD before routes that name a source address).
 */
export function addRoutes(
  ctr: Rtnl,
  index: number,
  routes: readonly Route[],
  gateways: ReadonlyMap<Family, string>,
): void {
  for (const r of routes) {
    const family = familyOfText(r.dst);
    ctr.addRoute({
      dst: r.dst,
      gateway: r.gw ?? gateways.get(family),
      oif: index,
      metric: r.priority,
      mtu: r.mtu,
      advmss: r.advmss,
      table: r.table,
      scope: r.scope,
    });
  }
}

/** The first gateway per family of a result's IPs: what a route without `gw` goes through. */
export function gatewaysOf(ips: readonly IPConfig[]): Map<Family, string> {
  const gws = new Map<Family, string>();
  for (const ip of ips) {
    if (!ip.gateway) continue;
    const fam = familyOfText(ip.gateway);
    if (!gws.has(fam)) gws.set(fam, ip.gateway);
  }
  return gws;
}

/**
 * The sysctls the reference's ConfigureIface sets before an IPv6 address goes on `ifName`: IPv6
 * on for the link and for lo, and addresses kept across a link down. None for IPv4 only.
 */
export function ipv6Sysctls(ifName: string, ips: readonly IPConfig[]): SysctlValues {
  if (!ips.some((ip) => ip.address.includes(':'))) return [];
  return [
    ['net/ipv6/conf/lo/disable_ipv6', '0'],
    [`net/ipv6/conf/${ifName}/disable_ipv6`, '0'],
    [`net/ipv6/conf/${ifName}/keep_addr_on_down`, '1'],
  ];
}

/**
 * An IPAM result onto the container's interface, in the reference's order: sysctls (`extra`
 * first), addresses (DAD on), link up, IPv6 settling, routes. Settling is skipped on a link
 * without carrier (a tap no process holds yet): there DAD cannot finish before something attaches.
 */
export async function configureL3(
  kernel: Pick<Kernel, 'setSysctlsIn'>,
  ctr: Rtnl,
  netns: string,
  ifName: string,
  ips: readonly IPConfig[],
  routes: readonly Route[],
  extra: SysctlValues = [],
): Promise<number> {
  const sysctls = [...extra, ...ipv6Sysctls(ifName, ips)];
  if (sysctls.length > 0) kernel.setSysctlsIn(netns, sysctls);
  const gateways = gatewaysOf(ips);
  const index = configureInterface(ctr, ifName, { ips, routes: [], gateways, nodad: false, up: true });
  if (gateways.has(6) && ctr.linkByIndex(index)?.flags.lowerUp) await settleIPv6(ctr, index, ifName);
  addRoutes(ctr, index, routes, gateways);
  return index;
}
