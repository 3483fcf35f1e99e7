/**
 * CHECK's comparisons of a container's live state with prevResult, shared by the interface
 * plugins (macvlan, ipvlan, ptp, host-device), with the reference's messages
 * (ValidateExpectedInterfaceIPs, ValidateExpectedRoute). Netlink reads on a socket inside the
 * container. Routes are looked for in every table, not only in main as the reference does: sbr,
 * chained after these plugins, moves an interface's routes into a table of its own, and with
 * main-only lookups the CHECK of every such chain fails.
 */
import { CniError, ErrorCode } from '../cni/errors';
import type { IPConfig, Route } from '../cni/result/types';
import { formatCIDR, networkOf, parseCIDR, parseIP, sameAddr } from '../addr/ip';
import type { Rtnl } from '../netlink';

const fail = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);

/** A CIDR with its host address kept, in one spelling (IPv6 text has several). */
const canonicalAddr = (cidr: string): string | undefined => {
  const c = parseCIDR(cidr);
  return c ? formatCIDR(c.addr, c.prefix) : undefined;
};

/** A CIDR's network in one spelling: 10.1.1.5/24 → 10.1.1.0/24. */
const canonical = (dst: string): string | undefined => {
  const c = parseCIDR(dst);
  return c ? formatCIDR(networkOf(c.addr, c.prefix), c.prefix) : undefined;
};

/**
 * Every prevResult address meant for interface `resultIndex` is on the link `index`, and its
 * prefix is still routed (the reference's check, which it reports as a missing gateway).
 */
export function checkAddresses(
  ctr: Rtnl,
  index: number,
  ifName: string,
  ips: readonly IPConfig[],
  resultIndex: number,
): void {
  const live = new Set(ctr.addrs({ index }).map((a) => canonicalAddr(a.cidr)));
  const routes = ips.length > 0 ? ctr.routes({ table: 'all' }) : [];
  for (const ip of ips) {
    if (ip.interface !== undefined && ip.interface !== resultIndex) continue;
    const want = canonicalAddr(ip.address);
    if (!want || !live.has(want)) throw fail(`Failed to match addr ${ip.address} on interface ${ifName}`);
    const prefix = canonical(ip.address);
    if (!routes.some((r) => canonical(r.dst) === prefix))
      throw fail(`Failed to find Gateway ${ip.gateway ?? ''} for interface ${ifName}`);
  }
}

const sameGw = (text: string, gw: NonNullable<ReturnType<typeof parseIP>>): boolean => {
  const a = parseIP(text);
  return !!a && sameAddr(a, gw);
};

/**
 * Every prevResult route is in a routing table: same destination and, when the route names one,
 * the same gateway. A default route matches any default route, as in the reference.
 */
export function checkRoutes(ctr: Rtnl, routes: readonly Route[]): void {
  if (routes.length === 0) return;
  const live = ctr.routes({ table: 'all' });
  for (const r of routes) {
    const dst = canonical(r.dst);
    if (!dst) throw fail(`Invalid static route found ${r.dst}`);
    const isDefault = dst === '0.0.0.0/0' || dst === '::/0';
    const gw = r.gw ? parseIP(r.gw) : undefined;
    const found = live.some(
      (l) => canonical(l.dst) === dst && (isDefault || !gw || (l.gateway !== undefined && sameGw(l.gateway, gw))),
    );
    if (!found) throw fail(`Expected Route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} not found in routing table`);
  }
}
