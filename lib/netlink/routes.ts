/**
 * Routes (RTM_*ROUTE): decoding, and the add / replace / delete / dump requests.
 * Destinations are CIDR text; `default` means 0.0.0.0/0 (or ::/0 when the gateway or source
 * is IPv6).
 */
import {
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTA_DST,
  RTA_GATEWAY,
  RTA_METRICS,
  RTA_MULTIPATH,
  RTAX_ADVMSS,
  RTAX_MTU,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTNH_F_ONLINK,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTPROT_BOOT,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RT_TABLE_UNSPEC,
} from './constants';
import { afOf, familyOf } from './addrs';
import { formatIp, parseIp, parsePrefix, type Prefix } from './inet';
import { Attrs, attr, decodeRtMsg, encodeRtMsg, type AttrSpec, type NlMessage, type Request } from './message';
import type { Family } from '../addr/ip';

export interface Route {
  family: Family;
  /** `10.1.0.0/16`; the default route is `0.0.0.0/0` or `::/0`. */
  dst: string;
  gateway?: string;
  /** Output link index. */
  oif?: number;
  /** Preferred source (RTA_PREFSRC). */
  src?: string;
  /** RTA_PRIORITY */
  metric?: number;
  table: number;
  scope: number;
  protocol: number;
  /** RTN_* */
  type: number;
  /** rtm_flags (RTM_F_*, RTNH_F_*) */
  flags: number;
  /** True for an ECMP route (its next hops are not decoded). */
  multipath?: boolean;
  /** Path MTU and advertised MSS (RTA_METRICS), when set. */
  mtu?: number;
  advmss?: number;
}

/** Decodes an RTM_NEWROUTE message; undefined for families other than IPv4/IPv6. */
export function decodeRoute(m: NlMessage): Route | undefined {
  const h = decodeRtMsg(m.payload);
  const family = familyOf(h.family);
  if (!family) return undefined;
  const a = Attrs.parse(m.payload, 12);
  const dst = a.bytes(RTA_DST) ?? new Uint8Array(family === 4 ? 4 : 16);
  const r: Route = {
    family,
    dst: `${formatIp(dst)}/${h.dstLen}`,
    table: a.u32(RTA_TABLE) ?? h.table,
    scope: h.scope,
    protocol: h.protocol,
    type: h.type,
    flags: h.flags,
  };
  const gw = a.bytes(RTA_GATEWAY);
  if (gw) r.gateway = formatIp(gw);
  const oif = a.u32(RTA_OIF);
  if (oif !== undefined) r.oif = oif;
  const src = a.bytes(RTA_PREFSRC);
  if (src) r.src = formatIp(src);
  const metric = a.u32(RTA_PRIORITY);
  if (metric !== undefined) r.metric = metric;
  if (a.has(RTA_MULTIPATH)) r.multipath = true;
  const metrics = a.nested(RTA_METRICS);
  const mtu = metrics.u32(RTAX_MTU);
  if (mtu !== undefined) r.mtu = mtu;
  const advmss = metrics.u32(RTAX_ADVMSS);
  if (advmss !== undefined) r.advmss = advmss;
  return r;
}

/** The kernel's route lookup for one destination address (`ip route get <addr>`). */
export function getRoute(address: string): Request {
  const ip = parseIp(address);
  return {
    type: RTM_GETROUTE,
    flags: 0,
    header: encodeRtMsg({ family: afOf(ip.family), dstLen: ip.family === 4 ? 32 : 128 }),
    attrs: [attr.bytes(RTA_DST, ip.bytes)],
  };
}

export const dumpRoutes = (family?: Family): Request => ({
  type: RTM_GETROUTE,
  flags: NLM_F_DUMP,
  header: encodeRtMsg({ family: family ? afOf(family) : 0 }),
});

export interface RouteSpec {
  /** CIDR, or `default`. */
  dst: string;
  gateway?: string;
  oif?: number;
  /** Defaults to link scope for an IPv4 route without gateway, universe otherwise (as iproute2). */
  scope?: number;
  /** Defaults to the main table. */
  table?: number;
  metric?: number;
  src?: string;
  /** RTPROT_*; defaults to RTPROT_BOOT (what iproute2 uses). */
  protocol?: number;
  /** RTN_*; defaults to unicast. */
  type?: number;
  /** Path MTU and advertised MSS of the route (RTA_METRICS). */
  mtu?: number;
  advmss?: number;
  /** The gateway is on the output link even though no address of the link covers it (RTNH_F_ONLINK). */
  onlink?: boolean;
}

function destination(s: RouteSpec): Prefix {
  if (s.dst !== 'default') return parsePrefix(s.dst);
  const hint = s.gateway ?? s.src;
  const family = hint ? parseIp(hint).family : 4;
  return { family, bytes: new Uint8Array(family === 4 ? 4 : 16), len: 0 };
}

function routeBody(s: RouteSpec, forDelete: boolean): { header: Uint8Array; attrs: AttrSpec[] } {
  const dst = destination(s);
  const sameFamily = (text: string, what: string): Uint8Array => {
    const ip = parseIp(text);
    if (ip.family !== dst.family) throw new Error(`route to ${s.dst}: ${what} ${text} is not IPv${dst.family}`);
    return ip.bytes;
  };
  const attrs: AttrSpec[] = [];
  if (dst.len > 0) attrs.push(attr.bytes(RTA_DST, dst.bytes));
  if (s.gateway !== undefined) attrs.push(attr.bytes(RTA_GATEWAY, sameFamily(s.gateway, 'gateway')));
  if (s.oif !== undefined) attrs.push(attr.u32(RTA_OIF, s.oif));
  if (s.src !== undefined) attrs.push(attr.bytes(RTA_PREFSRC, sameFamily(s.src, 'source')));
  if (s.metric !== undefined) attrs.push(attr.u32(RTA_PRIORITY, s.metric));
  const metrics: AttrSpec[] = [];
  if (s.mtu !== undefined) metrics.push(attr.u32(RTAX_MTU, s.mtu));
  if (s.advmss !== undefined) metrics.push(attr.u32(RTAX_ADVMSS, s.advmss));
  if (metrics.length) attrs.push(attr.nest(RTA_METRICS, metrics));
  const table = s.table ?? RT_TABLE_MAIN;
  // rtm_table is 8 bits wide; larger table ids only travel in RTA_TABLE.
  if (table > 255) attrs.push(attr.u32(RTA_TABLE, table));
  const defaultScope = dst.family === 4 && s.gateway === undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  const header = encodeRtMsg({
    family: afOf(dst.family),
    dstLen: dst.len,
    table: table > 255 ? RT_TABLE_UNSPEC : table,
    // A delete leaves unset fields as wildcards: any protocol, any scope, any type.
    protocol: s.protocol ?? (forDelete ? 0 : RTPROT_BOOT),
    scope: s.scope ?? (forDelete ? RT_SCOPE_NOWHERE : defaultScope),
    type: s.type ?? (forDelete ? 0 : RTN_UNICAST),
    flags: s.onlink ? RTNH_F_ONLINK : 0,
  });
  return { header, attrs };
}

export function newRoute(s: RouteSpec, o: { replace?: boolean } = {}): Request {
  const { header, attrs } = routeBody(s, false);
  return { type: RTM_NEWROUTE, flags: NLM_F_CREATE | (o.replace ? NLM_F_REPLACE : NLM_F_EXCL), header, attrs };
}

export function delRoute(s: RouteSpec): Request {
  const { header, attrs } = routeBody(s, true);
  return { type: RTM_DELROUTE, flags: 0, header, attrs };
}
