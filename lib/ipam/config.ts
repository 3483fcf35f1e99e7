/**
 * host-local's configuration (reference: backend/allocator/config.go): the ranges the allocator
 * hands out and the store they are leased from, also read by bridge's reload (lease ownership).
 * IPAM plugins get the whole network config. Range-set order = runtimeConfig.ipRanges, legacy
 * single range, ipam.ranges; the index of a set names its `last_reserved_ip.<index>` file.
 * Validation failures are ConfigErrors carrying the reference's text.
 */
import { parseCniArgs } from '../cni/args';
import type { NetConfig } from '../cni/invocation';
import { ConfigError } from '../cni/errors';
import type { Route } from '../cni/result/types';
import { configRoutes } from '../cni/netconf';
import * as t from '../cni/schema';
import { routeDecoder } from '../cni/result/decode';
import { versionAtLeast } from '../cni/version';
import { DEFAULT_DATA_DIR } from './disk-store';
import { formatIP, parseCIDR, parseIP, type Addr } from '../addr/ip';
import {
  canonicalizeRangeSet,
  checkDecodable,
  familyOf,
  rangeSetsOverlap,
  type RangeSet,
  type RawRange,
} from './ranges';

const optStr = t.optional(t.string);
const rangeSets = t.optional(
  t.array(t.array(t.object({ subnet: optStr, rangeStart: optStr, rangeEnd: optStr, gateway: optStr }))),
);
const ipamDecoder = t.object({
  type: optStr,
  subnet: optStr,
  rangeStart: optStr,
  rangeEnd: optStr,
  gateway: optStr,
  // A null entry is skipped, as the reference's decoder leaves a nil route.
  routes: t.optional(t.array(t.optional(routeDecoder))),
  dataDir: optStr,
  resolvConf: optStr,
  ranges: rangeSets,
  // Ours: a released address is not handed out again for this long (0 or absent: off).
  reuseDelaySeconds: t.optional(t.uint),
});
const netDecoder = t.object({
  cniVersion: optStr,
  ipam: t.optional(ipamDecoder),
  runtimeConfig: t.optional(t.object({ ipRanges: rangeSets, ips: t.optional(t.array(t.string)) })),
  args: t.optional(t.object({ cni: t.optional(t.object({ ips: t.optional(t.array(t.string)) })) })),
});
type IpamRaw = t.Decoded<typeof ipamDecoder>;
type NetRaw = t.Decoded<typeof netDecoder>;

export interface StoreConfig {
  readonly dataDir: string;
  /** The reuse delay in ms; 0 when off (the reference's behaviour). */
  readonly reuseDelayMs: number;
}
export interface HostLocalConfig extends StoreConfig {
  readonly ranges: readonly RangeSet[];
  readonly routes: Route[];
  readonly resolvConf: string | undefined;
  /** Requested addresses, de-duplicated, in the reference's merge order. */
  readonly requested: readonly Addr[];
}

function ipamOf(config: NetConfig): { net: NetRaw; ipam: IpamRaw } {
  const net = t.parseWith(netDecoder, config, 'host-local configuration');
  if (!net.ipam) throw new ConfigError("IPAM config missing 'ipam' key");
  return { net, ipam: net.ipam };
}

/** Just what DEL and GC need: they must work even when the ranges no longer validate. */
export function loadStoreConfig(config: NetConfig): StoreConfig {
  const { ipam } = ipamOf(config);
  return { dataDir: ipam.dataDir || DEFAULT_DATA_DIR, reuseDelayMs: reuseDelayOf(ipam.reuseDelaySeconds) };
}

/** A day at most: longer would hold a pool's addresses back for good. */
const MAX_REUSE_DELAY_S = 86_400;

function reuseDelayOf(v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isInteger(v) || v < 0 || v > MAX_REUSE_DELAY_S)
    throw new ConfigError(
      `invalid reuseDelaySeconds ${v}: a whole number of seconds from 0 to ${MAX_REUSE_DELAY_S}`,
      'ipam.reuseDelaySeconds',
    );
  return v * 1000;
}

/** `a.b.c.d` or `a.b.c.d/len` (the length is ignored), as the reference's ip.IP accepts. */
function requestedIP(text: string): Addr {
  const a = text.includes('/') ? parseCIDR(text)?.addr : parseIP(text);
  if (!a) throw new ConfigError(`invalid IP address ${text}`);
  return a;
}

export function loadConfig(config: NetConfig, cniArgs = ''): HostLocalConfig {
  const { net, ipam } = ipamOf(config);

  const requested = new Map<string, Addr>();
  const add = (a: Addr): void => void requested.set(formatIP(a), a);
  const ipArg = parseCniArgs(cniArgs, ['IP'])['IP'];
  if (ipArg !== undefined && ipArg !== '') {
    const a = parseIP(ipArg);
    if (!a) throw new ConfigError(`ARGS: error parsing value of pair "IP=${ipArg}": invalid IP address ${ipArg}`);
    add(a);
  }
  for (const t of net.args?.cni?.ips ?? []) add(requestedIP(t));
  for (const t of net.runtimeConfig?.ips ?? []) add(requestedIP(t));

  const rawSets: RawRange[][] = [];
  rawSets.push(...(net.runtimeConfig?.ipRanges ?? []));
  if (ipam.subnet)
    rawSets.push([
      { subnet: ipam.subnet, rangeStart: ipam.rangeStart, rangeEnd: ipam.rangeEnd, gateway: ipam.gateway },
    ]);
  rawSets.push(...(ipam.ranges ?? []));
  const routes = configRoutes(ipam.routes);
  for (const raw of rawSets.flat()) {
    try {
      checkDecodable(raw);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  }
  if (rawSets.length === 0) throw new ConfigError('no IP ranges specified');

  const ranges = rawSets.map((raw, i) => {
    try {
      return canonicalizeRangeSet(raw);
    } catch (e) {
      throw new ConfigError(`invalid range set ${i}: ${(e as Error).message}`);
    }
  });
  const v4 = ranges.filter((s) => familyOf(s) === 4).length;
  // The dispatcher reads a missing or empty cniVersion as 0.1.0.
  if ((v4 > 1 || ranges.length - v4 > 1) && !versionAtLeast(net.cniVersion || '0.1.0', '0.3.0')) {
    throw new ConfigError(`CNI version ${net.cniVersion ?? ''} does not support more than 1 address per family`);
  }
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      if (rangeSetsOverlap(ranges[i] as RangeSet, ranges[j] as RangeSet))
        throw new ConfigError(`range set ${i} overlaps with ${j}`);
    }
  }
  return {
    dataDir: ipam.dataDir || DEFAULT_DATA_DIR,
    reuseDelayMs: reuseDelayOf(ipam.reuseDelaySeconds),
    ranges,
    routes,
    resolvConf: ipam.resolvConf || undefined,
    requested: [...requested.values()],
  };
}
