/**
 * What a DHCPACK grants, read the reference's way: the address with the subnet mask's prefix,
 * the first router as gateway, routes (classless static routes when present, which replace the
 * router and static routes as RFC 3442 says; else static routes and a default route via the
 * router), and — beyond the reference — DNS (servers, domain, search list). Plus the lease's
 * timers (RFC 2131 §4.4.5). Pure.
 */
import type { DNS, IPConfig, Result, Route } from '../cni/result/types';
import {
  classlessRoutes,
  domainSearch,
  maskPrefix,
  Opt,
  optIp,
  optIps,
  optText,
  optU32,
  staticRoutes,
  type DhcpMessage,
} from './wire';

/** RFC 2131 leaves the lease time to the server; the reference assumes an hour when it is absent. */
const DEFAULT_LEASE_SECONDS = 3600;
/** scope link (RT_SCOPE_LINK), for routes whose router is 0.0.0.0 (on-link). */
const SCOPE_LINK = 253;

export interface LeaseTimes {
  lease: number;
  /** T1: start renewing (unicast to the server). */
  renew: number;
  /** T2: start rebinding (broadcast to any server). */
  rebind: number;
}

export function leaseTimes(ack: DhcpMessage): LeaseTimes {
  const lease = optU32(ack, Opt.LeaseTime) ?? DEFAULT_LEASE_SECONDS;
  let renew = optU32(ack, Opt.RenewalTime) ?? Math.floor(lease / 2);
  let rebind = optU32(ack, Opt.RebindingTime) ?? Math.floor((lease * 7) / 8);
  // A server's odd timers are kept in order: T1 <= T2 <= lease.
  rebind = Math.min(rebind, lease);
  renew = Math.min(renew, rebind);
  return { lease, renew, rebind };
}

export class LeaseError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'LeaseError';
  }
}

export function addressOf(ack: DhcpMessage): { ip: string; prefix: number } {
  const mask = optIp(ack, Opt.SubnetMask);
  if (!mask) throw new LeaseError('DHCP option Subnet Mask not found in DHCPACK');
  const prefix = maskPrefix(mask);
  if (prefix === undefined) throw new LeaseError(`DHCP option Subnet Mask ${mask} is not a contiguous mask`);
  if (ack.yiaddr === '0.0.0.0') throw new LeaseError('DHCPACK carries no address (yiaddr 0.0.0.0)');
  return { ip: ack.yiaddr, prefix };
}

export const gatewayOf = (ack: DhcpMessage): string | undefined => optIps(ack, Opt.Router)[0];

export function routesOf(ack: DhcpMessage, priority: number): Route[] {
  const withPriority = (r: Route): Route => (priority !== 0 ? { ...r, priority } : r);
  const classless = ack.options.get(Opt.ClasslessRoute);
  const parsed = classless ? classlessRoutes(classless) : undefined;
  if (parsed && parsed.length > 0) {
    return parsed.map((r) =>
      withPriority(
        r.gw === '0.0.0.0'
          ? { dst: `${r.dst}/${r.prefix}`, gw: r.gw, scope: SCOPE_LINK }
          : { dst: `${r.dst}/${r.prefix}`, gw: r.gw },
      ),
    );
  }
  const routes: Route[] = [];
  const statics = ack.options.get(Opt.StaticRoute);
  if (statics)
    for (const r of staticRoutes(statics)) routes.push(withPriority({ dst: `${r.dst}/${r.prefix}`, gw: r.gw }));
  const gw = gatewayOf(ack);
  if (gw) routes.push(withPriority({ dst: '0.0.0.0/0', gw }));
  return routes;
}

export function dnsOf(ack: DhcpMessage): DNS | undefined {
  const dns: DNS = {};
  const servers = optIps(ack, Opt.DomainNameServer);
  if (servers.length > 0) dns.nameservers = servers;
  const domain = optText(ack, Opt.DomainName);
  if (domain) dns.domain = domain;
  const search = ack.options.get(Opt.DomainSearch);
  const names = search ? domainSearch(search) : undefined;
  if (names && names.length > 0) dns.search = names;
  return Object.keys(dns).length > 0 ? dns : undefined;
}

/** The IPAM result of a lease (no interfaces: the calling plugin adds those). */
export function resultOf(ack: DhcpMessage, priority: number): Result {
  const { ip, prefix } = addressOf(ack);
  const gw = gatewayOf(ack);
  const ipc: IPConfig = gw ? { address: `${ip}/${prefix}`, gateway: gw } : { address: `${ip}/${prefix}` };
  const result: Result = { cniVersion: '1.0.0', ips: [ipc], routes: routesOf(ack, priority) };
  const dns = dnsOf(ack);
  if (dns) result.dns = dns;
  return result;
}
