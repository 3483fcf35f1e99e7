/**
 * Decoding a result of any version (a delegate's output, a prevResult, a cached result) into the
 * internal 1.x-shaped Result. Encoding is in encode.ts, which needs no schema library.
 */
import { CniError, ErrorCode } from '../errors';
import { goObject, lazySchema, parseWith, uint, z } from '../schema';
import { resultFamily } from '../version';
import { stripUndefined, toWire } from './encode';
import type { DNS, IPConfig, Interface, Result, Route } from './types';

const route = () =>
  goObject({
    dst: z.string(),
    gw: z.optional(z.string()),
    mtu: z.optional(uint()),
    advmss: z.optional(uint()),
    priority: z.optional(uint()),
    table: z.optional(uint()),
    scope: z.optional(uint()),
  });
const dns = () =>
  goObject({
    nameservers: z.nullish(z.array(z.string())),
    domain: z.optional(z.string()),
    search: z.nullish(z.array(z.string())),
    options: z.nullish(z.array(z.string())),
  });
const currentSchema = lazySchema(() =>
  goObject({
    cniVersion: z.optional(z.string()),
    interfaces: z.nullish(
      z.array(
        goObject({
          name: z.string(),
          mac: z.optional(z.string()),
          mtu: z.optional(uint()),
          sandbox: z.optional(z.string()),
          socketPath: z.optional(z.string()),
          pciID: z.optional(z.string()),
        }),
      ),
    ),
    ips: z.nullish(
      z.array(
        goObject({
          version: z.optional(z.enum(['4', '6'])),
          interface: z.nullish(uint()),
          address: z.string(),
          gateway: z.optional(z.string()),
        }),
      ),
    ),
    routes: z.nullish(z.array(route())),
    dns: z.nullish(dns()),
  }),
);
const legacySchema = lazySchema(() => {
  const ipConfig = goObject({ ip: z.string(), gateway: z.optional(z.string()), routes: z.nullish(z.array(route())) });
  return goObject({
    cniVersion: z.optional(z.string()),
    ip4: z.nullish(ipConfig),
    ip6: z.nullish(ipConfig),
    dns: z.nullish(dns()),
  });
});
type WireDns = z.output<ReturnType<typeof dns>>;

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
    const r = parseWith(legacySchema(), json, what);
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
  const r = parseWith(currentSchema(), json, what);
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

/** Converts a wire result of one version to another (used by the runtime and tests). */
export function convertResult(json: unknown, fromVersion: string, toVersion: string): Record<string, unknown> {
  return toWire(parseResult(json, fromVersion), toVersion);
}
