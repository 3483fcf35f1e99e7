/**
 * The parts of a network configuration every plugin shares (SPEC §"Plugin configuration"):
 * `type`, `ipam.type`, `dns`, `runtimeConfig`, `args`, `prevResult`, and the GC attachment list.
 * Plugin-specific keys are parsed by each plugin's config.ts.
 */
import { attachmentKey, type NetConfig } from './invocation';
import { CniError, ConfigError, ErrorCode } from './errors';
import { dnsDecoder, parseResult, routeDecoder } from './result/decode';
import type { DNS, Result, Route } from './result/types';
import { formatCIDR, formatIP, parseCIDR, parseIP } from '../addr/ip';
import * as t from './schema';
import { resultFamily, type CniVersion } from './version';
import { warn } from '../log';

/**
 * prevResult of a chained plugin, converted to the internal shape; undefined if absent.
 * ADD and CHECK act on it, so it must parse, be of the config's result family (a 0.4.0 result
 * in a 1.0.0 config is rejected, as the reference's parser does) and hold valid values. DEL
 * must clean up whatever it can: there (`onDel`) an unusable prevResult reads as absent.
 */
export function prevResultOf(config: NetConfig, cniVersion: CniVersion, onDel = false): Result | undefined {
  const raw = config['prevResult'];
  if (raw === undefined || raw === null) return undefined;
  try {
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new CniError(ErrorCode.DecodingFailure, 'could not parse prevResult', 'prevResult must be a JSON object');
    }
    const declared = (raw as Record<string, unknown>)['cniVersion'];
    if (typeof declared === 'string' && declared !== '' && sameFamily(declared, cniVersion) === false) {
      throw new CniError(
        ErrorCode.IncompatibleVersion,
        'could not parse prevResult',
        `prevResult.cniVersion: ${JSON.stringify(declared)} is not a result of config version ${cniVersion}`,
      );
    }
    return parseResult(raw, cniVersion, 'prevResult');
  } catch (e) {
    if (!onDel) throw e;
    warn(`ignoring prevResult on DEL: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

/** Whether two versions share a result shape; undefined when either is unknown. */
function sameFamily(a: string, b: string): boolean | undefined {
  try {
    return resultFamily(a) === resultFamily(b);
  } catch {
    return undefined;
  }
}

/** An entry of the GC attachment list, as the runtime spells it. */
export interface ValidAttachment {
  readonly containerID: string;
  readonly ifname: string;
}

const attachmentsDecoder = t.array(t.object({ containerID: t.string, ifname: t.string }));

/**
 * The attachments a GC must keep: `cni.dev/valid-attachments`, or the older `cni.dev/attachments`.
 * Undefined when neither key is present: then GC must not remove anything.
 */
export function validAttachmentsOf(config: NetConfig): ValidAttachment[] | undefined {
  const raw = config['cni.dev/valid-attachments'] ?? config['cni.dev/attachments'];
  if (raw === undefined || raw === null) return undefined;
  return t.parseWith(attachmentsDecoder, raw, 'cni.dev/valid-attachments');
}

/** The attachment keys (see attachmentKey) of a GC attachment list, for membership tests. */
export const validKeys = (valid: readonly ValidAttachment[]): Set<string> =>
  new Set(valid.map((a) => attachmentKey(a.containerID, a.ifname)));

/** The config's `dns` key as a result carries it: undefined when it says nothing. */
export function configuredDns(d: t.Decoded<typeof dnsDecoder> | undefined): DNS | undefined {
  if (!d || !(d.nameservers?.length || d.domain || d.search?.length || d.options?.length)) return undefined;
  const out: DNS = {};
  if (d.nameservers?.length) out.nameservers = d.nameservers;
  if (d.domain) out.domain = d.domain;
  if (d.search?.length) out.search = d.search;
  if (d.options?.length) out.options = d.options;
  return out;
}

/**
 * An IPAM config's `routes` as a result carries them (host-local, static): `dst` keeps the
 * address as written, as the reference's decoder does; a null entry is skipped (the reference
 * passes it on as a null route).
 */
export function configRoutes(raw: ReadonlyArray<t.Decoded<typeof routeDecoder> | undefined> | undefined): Route[] {
  const out: Route[] = [];
  for (const r of raw ?? []) {
    if (r === undefined) continue;
    const dst = parseCIDR(r.dst);
    if (!dst) throw new ConfigError(`invalid CIDR address: ${r.dst}`);
    const route: Route = { dst: formatCIDR(dst.addr, dst.prefix) };
    if (r.gw !== undefined && r.gw !== '') {
      const gw = parseIP(r.gw);
      if (!gw) throw new ConfigError(`invalid IP address: ${r.gw}`);
      route.gw = formatIP(gw);
    }
    for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) if (r[k] !== undefined) route[k] = r[k];
    out.push(route);
  }
  return out;
}
