/**
 * Result conversion between the three wire families (0.1/0.2, 0.3/0.4, 1.x), via the internal
 * 1.x-shaped Result. Rules follow the reference's converters (pkg/types/internal/convert.go):
 * going down to 0.2 keeps the first address of each family and only routes of a family that has
 * an address; going down to 0.4 adds `version` and drops 1.1-only interface fields.
 */
import { z } from 'zod';
import { CniError, ErrorCode } from '../errors';
import { goObject, parseWith } from '../schema';
import { resultFamily } from '../version';
import type { DNS, IPConfig, Interface, Result, Route } from './types';

export const isV6 = (addr: string): boolean => addr.includes(':');

// ---- wire schemas (decoding) ----
const uint = z.number().int().nonnegative();
const routeSchema = goObject({
  dst: z.string(),
  gw: z.string().optional(),
  mtu: uint.optional(),
  advmss: uint.optional(),
  priority: uint.optional(),
  table: uint.optional(),
  scope: uint.optional(),
});
const dnsSchema = goObject({
  nameservers: z.array(z.string()).nullish(),
  domain: z.string().optional(),
  search: z.array(z.string()).nullish(),
  options: z.array(z.string()).nullish(),
});
const ifaceSchema = goObject({
  name: z.string(),
  mac: z.string().optional(),
  mtu: uint.optional(),
  sandbox: z.string().optional(),
  socketPath: z.string().optional(),
  pciID: z.string().optional(),
});
const ipSchema = goObject({
  version: z.enum(['4', '6']).optional(),
  interface: uint.nullish(),
  address: z.string(),
  gateway: z.string().optional(),
});
const currentSchema = goObject({
  cniVersion: z.string().optional(),
  interfaces: z.array(ifaceSchema).nullish(),
  ips: z.array(ipSchema).nullish(),
  routes: z.array(routeSchema).nullish(),
  dns: dnsSchema.nullish(),
});
const ipConfig020 = goObject({
  ip: z.string(),
  gateway: z.string().optional(),
  routes: z.array(routeSchema).nullish(),
});
const legacySchema = goObject({
  cniVersion: z.string().optional(),
  ip4: ipConfig020.nullish(),
  ip6: ipConfig020.nullish(),
  dns: dnsSchema.nullish(),
});

function cleanDns(d: z.output<typeof dnsSchema> | null | undefined): DNS | undefined {
  if (!d) return undefined;
  const out: DNS = {};
  if (d.nameservers && d.nameservers.length) out.nameservers = d.nameservers;
  if (d.domain) out.domain = d.domain;
  if (d.search && d.search.length) out.search = d.search;
  if (d.options && d.options.length) out.options = d.options;
  return Object.keys(out).length ? out : undefined;
}

function stripUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

/**
 * Decodes a result of any version into the internal shape. `fallbackVersion` is used when the
 * JSON has no cniVersion (libcni gives such a result the config's version).
 */
export function parseResult(json: unknown, fallbackVersion: string, what = 'result'): Result {
  const declared =
    typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['cniVersion'] : undefined;
  const version = typeof declared === 'string' && declared !== '' ? declared : fallbackVersion;
  let family;
  try {
    family = resultFamily(version);
  } catch (e) {
    throw new CniError(ErrorCode.IncompatibleVersion, `could not parse ${what}`, (e as Error).message);
  }
  if (family === '0.2') {
    const r = parseWith(legacySchema, json, what);
    const ips: IPConfig[] = [];
    const routes: Route[] = [];
    for (const c of [r.ip4, r.ip6]) {
      if (!c) continue;
      ips.push(stripUndefined({ address: c.ip, gateway: c.gateway }));
      for (const rt of c.routes ?? []) routes.push(stripUndefined({ ...rt }));
    }
    return stripUndefined({
      cniVersion: version,
      ips: ips.length ? ips : undefined,
      routes: routes.length ? routes : undefined,
      dns: cleanDns(r.dns),
    });
  }
  const r = parseWith(currentSchema, json, what);
  const interfaces = r.interfaces?.map((i) => stripUndefined({ ...i }) as Interface);
  const ips = r.ips?.map(
    (ip) =>
      stripUndefined({ interface: ip.interface ?? undefined, address: ip.address, gateway: ip.gateway }) as IPConfig,
  );
  const routes = r.routes?.map((rt) => stripUndefined({ ...rt }) as Route);
  return stripUndefined({
    cniVersion: version,
    interfaces: interfaces?.length ? interfaces : undefined,
    ips: ips?.length ? ips : undefined,
    routes: routes?.length ? routes : undefined,
    dns: cleanDns(r.dns),
  });
}

// ---- encoding (wire objects with the reference's key order and omissions) ----
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
          version: isV6(ip.address) ? '6' : '4',
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
  const v4 = r.ips?.find((ip) => !isV6(ip.address));
  const v6 = r.ips?.find((ip) => isV6(ip.address));
  if (!v4 && !v6) throw new CniError(ErrorCode.Internal, 'cannot convert: no valid IP addresses');
  const out: Record<string, unknown> = { cniVersion: version };
  for (const [key, ip, six] of [
    ['ip4', v4, false],
    ['ip6', v6, true],
  ] as const) {
    if (!ip) continue;
    const routes = (r.routes ?? [])
      .filter((rt) => isV6(rt.dst) === six)
      .map((rt) => stripUndefined({ dst: rt.dst, gw: rt.gw }));
    out[key] = stripUndefined({ ip: ip.address, gateway: ip.gateway, routes: routes.length ? routes : undefined });
  }
  out['dns'] = dnsWire(r.dns);
  return out;
}

/** Converts a wire result of one version to another (used by the runtime and tests). */
export function convertResult(json: unknown, fromVersion: string, toVersion: string): Record<string, unknown> {
  return toWire(parseResult(json, fromVersion), toVersion);
}
