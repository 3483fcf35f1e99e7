/**
 * Decoding a result of any version (a delegate's output, a prevResult, a cached result) into the
 * internal 1.x-shaped Result. Encoding is in encode.ts.
 */
import { CniError, ErrorCode } from '../errors';
import * as t from '../schema';
import { parseCIDR, parseIP } from '../../addr/ip';
import { resultFamily } from '../version';
import { stripUndefined, toWire } from './encode';
import type { DNS, IPConfig, Interface, Result, Route } from './types';

/** A route as results and IPAM configs spell it. */
export const routeDecoder = t.object({
  dst: t.string,
  gw: t.optional(t.string),
  mtu: t.optional(t.uint),
  advmss: t.optional(t.uint),
  priority: t.optional(t.uint),
  table: t.optional(t.uint),
  scope: t.optional(t.uint),
});
/** DNS settings as results and network configs spell them. */
export const dnsDecoder = t.object({
  nameservers: t.optional(t.array(t.string)),
  domain: t.optional(t.string),
  search: t.optional(t.array(t.string)),
  options: t.optional(t.array(t.string)),
});
const currentDecoder = t.object({
  cniVersion: t.optional(t.string),
  interfaces: t.optional(
    t.array(
      t.object({
        name: t.string,
        mac: t.optional(t.string),
        mtu: t.optional(t.uint),
        sandbox: t.optional(t.string),
        socketPath: t.optional(t.string),
        pciID: t.optional(t.string),
      }),
    ),
  ),
  ips: t.optional(
    t.array(
      t.object({
        version: t.optional(t.literal('4', '6')),
        interface: t.optional(t.uint),
        address: t.string,
        gateway: t.optional(t.string),
      }),
    ),
  ),
  routes: t.optional(t.array(routeDecoder)),
  dns: t.optional(dnsDecoder),
});
const ipConfig020 = t.object({
  ip: t.string,
  gateway: t.optional(t.string),
  routes: t.optional(t.array(routeDecoder)),
});
const legacyDecoder = t.object({
  cniVersion: t.optional(t.string),
  ip4: t.optional(ipConfig020),
  ip6: t.optional(ipConfig020),
  dns: t.optional(dnsDecoder),
});
type WireDns = t.Decoded<typeof dnsDecoder>;

function cleanDns(d: WireDns | null | undefined): DNS | undefined {
  if (!d) return undefined;
  const out: DNS = {};
  if (d.nameservers && d.nameservers.length) out.nameservers = d.nameservers;
  if (d.domain) out.domain = d.domain;
  if (d.search && d.search.length) out.search = d.search;
  if (d.options && d.options.length) out.options = d.options;
  return Object.keys(out).length ? out : undefined;
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
    const r = t.parseWith(legacyDecoder, json, what);
    const ips: IPConfig[] = [];
    const routes: Route[] = [];
    for (const c of [r.ip4, r.ip6]) {
      if (!c) continue;
      ips.push(stripUndefined({ address: c.ip, gateway: c.gateway }));
      for (const rt of c.routes ?? []) routes.push(stripUndefined({ ...rt }));
    }
    return validated(
      stripUndefined({
        cniVersion: version,
        ips: ips.length ? ips : undefined,
        routes: routes.length ? routes : undefined,
        dns: cleanDns(r.dns),
      }),
      what,
    );
  }
  const r = t.parseWith(currentDecoder, json, what);
  const interfaces = r.interfaces?.map((i) => stripUndefined({ ...i }) as Interface);
  const ips = r.ips?.map(
    (ip) =>
      stripUndefined({ interface: ip.interface ?? undefined, address: ip.address, gateway: ip.gateway }) as IPConfig,
  );
  const routes = r.routes?.map((rt) => stripUndefined({ ...rt }) as Route);
  return validated(
    stripUndefined({
      cniVersion: version,
      interfaces: interfaces?.length ? interfaces : undefined,
      ips: ips?.length ? ips : undefined,
      routes: routes?.length ? routes : undefined,
      dns: cleanDns(r.dns),
    }),
    what,
  );
}

/**
 * The values plugins act on must mean something: addresses are CIDRs, gateways and route
 * gateways are IPs, route destinations are CIDRs, interface indexes point into `interfaces`.
 * A result that fails is rejected with the offending path (the reference rejects the same
 * results with "could not parse prevResult", without saying where).
 */
function validated(r: Result, what: string): Result {
  const fail = (path: string, why: string): never => {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `could not parse ${what}`, `${what}.${path}: ${why}`);
  };
  const ip = (v: string | undefined, path: string): void => {
    if (v !== undefined && v !== '' && !parseIP(v)) fail(path, `invalid IP address ${JSON.stringify(v)}`);
  };
  r.ips?.forEach((c, i) => {
    if (!parseCIDR(c.address)) fail(`ips.${i}.address`, `invalid CIDR address ${JSON.stringify(c.address)}`);
    ip(c.gateway, `ips.${i}.gateway`);
    if (c.interface !== undefined && c.interface >= (r.interfaces?.length ?? 0))
      fail(`ips.${i}.interface`, `index ${c.interface} is out of range of ${r.interfaces?.length ?? 0} interfaces`);
  });
  r.routes?.forEach((rt, i) => {
    if (!parseCIDR(rt.dst)) fail(`routes.${i}.dst`, `invalid CIDR address ${JSON.stringify(rt.dst)}`);
    ip(rt.gw, `routes.${i}.gw`);
  });
  return r;
}

/** Converts a wire result of one version to another (used by the runtime and tests). */
export function convertResult(json: unknown, fromVersion: string, toVersion: string): Record<string, unknown> {
  return toWire(parseResult(json, fromVersion), toVersion);
}
