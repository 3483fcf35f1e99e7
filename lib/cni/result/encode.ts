/**
 * Result conversion to the three wire families (0.1/0.2, 0.3/0.4, 1.x) from the internal
 * 1.x-shaped Result. Rules follow the reference's converters (pkg/types/internal/convert.go):
 * going down to 0.2 keeps the first address of each family and only routes of a family that has
 * an address; going down to 0.4 adds `version` and drops 1.1-only interface fields.
 */
import { familyOfText } from '../../addr/ip';
import { CniError, ErrorCode } from '../errors';
import { resultFamily } from '../version';
import type { DNS, Result, Route } from './types';

export function stripUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

// Wire objects keep the reference's key order and omissions.
function routeWire(rt: Route): Record<string, unknown> {
  return stripUndefined({
    dst: rt.dst,
    gw: rt.gw,
    mtu: rt.mtu,
    advmss: rt.advmss,
    priority: rt.priority,
    table: rt.table,
    scope: rt.scope,
  });
}
function dnsWire(d: DNS | undefined): Record<string, unknown> {
  return d
    ? stripUndefined({ nameservers: d.nameservers, domain: d.domain, search: d.search, options: d.options })
    : {};
}

/** Converts an internal result to the wire object of `version`. */
export function toWire(r: Result, version: string): Record<string, unknown> {
  const family = resultFamily(version);
  if (family === '1.x') {
    const out: Record<string, unknown> = { cniVersion: version };
    if (r.interfaces?.length) {
      out['interfaces'] = r.interfaces.map((i) =>
        stripUndefined({
          name: i.name,
          mac: i.mac || undefined,
          mtu: i.mtu || undefined,
          sandbox: i.sandbox || undefined,
          socketPath: i.socketPath || undefined,
          pciID: i.pciID || undefined,
        }),
      );
    }
    if (r.ips?.length)
      out['ips'] = r.ips.map((ip) =>
        stripUndefined({ interface: ip.interface, address: ip.address, gateway: ip.gateway }),
      );
    if (r.routes?.length) out['routes'] = r.routes.map(routeWire);
    const dns = dnsWire(r.dns);
    if (Object.keys(dns).length) out['dns'] = dns;
    return out;
  }
  if (family === '0.4') {
    const out: Record<string, unknown> = { cniVersion: version };
    if (r.interfaces?.length) {
      out['interfaces'] = r.interfaces.map((i) =>
        stripUndefined({ name: i.name, mac: i.mac || undefined, sandbox: i.sandbox || undefined }),
      );
    }
    if (r.ips?.length) {
      out['ips'] = r.ips.map((ip) =>
        stripUndefined({
          version: String(familyOfText(ip.address)),
          interface: ip.interface,
          address: ip.address,
          gateway: ip.gateway,
        }),
      );
    }
    if (r.routes?.length) out['routes'] = r.routes.map(routeWire);
    out['dns'] = dnsWire(r.dns);
    return out;
  }
  // 0.1.0 / 0.2.0: one address per family, routes grouped under the family that has an address.
  const v4 = r.ips?.find((ip) => familyOfText(ip.address) === 4);
  const v6 = r.ips?.find((ip) => familyOfText(ip.address) === 6);
  if (!v4 && !v6) throw new CniError(ErrorCode.Internal, 'cannot convert: no valid IP addresses');
  const out: Record<string, unknown> = { cniVersion: version };
  for (const [key, ip, family] of [
    ['ip4', v4, 4],
    ['ip6', v6, 6],
  ] as const) {
    if (!ip) continue;
    const routes = (r.routes ?? [])
      .filter((rt) => familyOfText(rt.dst) === family)
      .map((rt) => stripUndefined({ dst: rt.dst, gw: rt.gw }));
    out[key] = stripUndefined({ ip: ip.address, gateway: ip.gateway, routes: routes.length ? routes : undefined });
  }
  out['dns'] = dnsWire(r.dns);
  return out;
}
