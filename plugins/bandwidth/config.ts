/**
 * bandwidth configuration (reference: plugins/meta/bandwidth PluginConf; the subnet keys are
 * upstream v1.5's), decoded with Go's rules and checked in the reference's order with its
 * messages (code 7 here, 999 there).
 *
 * The limits come from the top-level keys when any of them is present (even as null, as Go
 * allocates the embedded entry then), else from `runtimeConfig.bandwidth` (capability
 * `bandwidth`, what CRI runtimes fill from a pod's annotations). Rates are bits per second,
 * bursts bits; a direction is shaped only when both its rate and burst are set.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import * as t from '../../lib/cni/schema';
import { networkOf, parseCIDR, type Addr } from '../../lib/addr/ip';

/** Go's uint64: any non-negative integer up to 2^64-1 (larger than 2^53 loses precision, as a float would). */
const uint64: t.Decoder<number> = (v, path) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** 64)
    throw new t.DecodeError(path, 'unsigned 64-bit integer', v);
  return v;
};

const ENTRY_KEYS = ['ingressRate', 'ingressBurst', 'egressRate', 'egressBurst', 'unshapedSubnets', 'shapedSubnets'];
const entry = {
  ingressRate: t.optional(uint64),
  ingressBurst: t.optional(uint64),
  egressRate: t.optional(uint64),
  egressBurst: t.optional(uint64),
  unshapedSubnets: t.optional(t.array(t.string)),
  shapedSubnets: t.optional(t.array(t.string)),
};
const entryDecoder = t.object(entry);
const decoder = t.object({
  ...entry,
  runtimeConfig: t.optional(t.object({ bandwidth: t.optional(entryDecoder) })),
});
type Entry = t.Decoded<typeof entryDecoder>;

/** One direction's limit: `rate` bit/s with a bucket of `burst` bits. */
export interface Limit {
  readonly rate: number;
  readonly burst: number;
}

export interface Subnet {
  /** The network address (host bits cleared, as Go's ParseCIDR returns it). */
  readonly net: Addr;
  readonly prefix: number;
}

/**
 * Which traffic is shaped: everything, everything but the peers in `subnets` (`unshaped`), or
 * only the peers in `subnets` (`shaped`). A peer is the far end: the destination of what the
 * container sends, the source of what it receives.
 */
export type Selection =
  { readonly mode: 'all' } | { readonly mode: 'unshaped' | 'shaped'; readonly subnets: readonly Subnet[] };

export interface BandwidthConfig {
  readonly ingress: Limit | undefined;
  readonly egress: Limit | undefined;
  readonly selection: Selection;
}

/** Go's encoding/json matches keys case-insensitively: is any entry key at the top level? */
function hasTopLevelEntry(config: Readonly<Record<string, unknown>>): boolean {
  const wanted = new Set(ENTRY_KEYS.map((k) => k.toLowerCase()));
  return Object.keys(config).some((k) => wanted.has(k.toLowerCase()));
}

const MAX_BURST_BYTES = 0xffffffff;

/** validateRateAndBurst, plus the two values the reference accepts but cannot shape with. */
function checkLimit(rate: number, burst: number): void {
  if (burst === 0 && rate !== 0) throw new ConfigError('if rate is set, burst must also be set');
  if (rate === 0 && burst !== 0) throw new ConfigError('if burst is set, rate must also be set');
  if (Math.floor(burst / 8) >= MAX_BURST_BYTES) throw new ConfigError('burst cannot be more than 4GB');
  // Below a byte per second the bucket never fills (the reference divides by zero here).
  if (rate !== 0 && rate < 8) throw new ConfigError(`rate ${rate} is below 8 bits per second`);
  // A bucket under one byte passes no packet at all.
  if (burst !== 0 && burst < 8) throw new ConfigError(`burst ${burst} is below 8 bits`);
}

function parseSubnet(text: string): Subnet {
  const c = parseCIDR(text);
  if (!c) throw new ConfigError(`bad subnet ${JSON.stringify(text)} provided, details invalid CIDR address: ${text}`);
  return { net: networkOf(c.addr, c.prefix), prefix: c.prefix };
}

function selectionOf(e: Entry): Selection {
  const unshaped = e.unshapedSubnets ?? [];
  const shaped = e.shapedSubnets ?? [];
  if (unshaped.length > 0 && shaped.length > 0)
    throw new ConfigError(
      'unshapedSubnets and shapedSubnets cannot be both specified, one of them should be discarded',
    );
  if (unshaped.length > 0) return { mode: 'unshaped', subnets: unshaped.map(parseSubnet) };
  if (shaped.length > 0) return { mode: 'shaped', subnets: shaped.map(parseSubnet) };
  return { mode: 'all' };
}

const limitOf = (rate: number | undefined, burst: number | undefined): Limit | undefined =>
  rate && burst ? { rate, burst } : undefined;

/**
 * The limits for ADD and CHECK; undefined when nothing is to be shaped (no entry, or every
 * value zero), in which case the subnets are not looked at either, as in the reference.
 */
export function loadBandwidthConfig(inv: Invocation): BandwidthConfig | undefined {
  const c = t.parseWith(decoder, inv.config, 'bandwidth configuration');
  const e: Entry | undefined = hasTopLevelEntry(inv.config) ? c : c.runtimeConfig?.bandwidth;
  if (!e) return undefined;
  checkLimit(e.ingressRate ?? 0, e.ingressBurst ?? 0);
  checkLimit(e.egressRate ?? 0, e.egressBurst ?? 0);
  const ingress = limitOf(e.ingressRate, e.ingressBurst);
  const egress = limitOf(e.egressRate, e.egressBurst);
  if (!ingress && !egress) return undefined;
  return { ingress, egress, selection: selectionOf(e) };
}
