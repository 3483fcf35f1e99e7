/**
 * Ranges and range sets with the reference's defaults, validation messages and iteration order
 * (backend/allocator/range.go, range_set.go, allocator.go GetIter/Next). Errors are plain Error
 * objects carrying the reference text; the config layer turns them into ConfigErrors.
 */
import {
  bitsOf,
  formatCIDR,
  formatIP,
  hostMask,
  networkOf,
  parseCIDR,
  parseIP,
  type Addr,
  type Family,
} from '../addr/ip';

export interface Range {
  readonly family: Family;
  /** Network address (no host bits). */
  readonly network: bigint;
  readonly prefix: number;
  readonly start: bigint;
  readonly end: bigint;
  readonly gateway: bigint;
}
export type RangeSet = readonly Range[];

export interface RawRange {
  subnet?: string | undefined;
  rangeStart?: string | undefined;
  rangeEnd?: string | undefined;
  gateway?: string | undefined;
}

const addrOf = (r: Range, value: bigint): Addr => ({ family: r.family, value });
export const subnetString = (r: Range): string => formatCIDR(addrOf(r, r.network), r.prefix);
export const rangeString = (r: Range): string => `${formatIP(addrOf(r, r.start))}-${formatIP(addrOf(r, r.end))}`;
export const rangeSetString = (s: RangeSet): string => s.map(rangeString).join(',');
const broadcast = (r: { family: Family; network: bigint; prefix: number }): bigint =>
  r.network | hostMask(r.family, r.prefix);

function ipOrThrow(text: string): Addr {
  const a = parseIP(text);
  if (!a) throw new Error(`invalid IP address: ${text}`);
  return a;
}

/**
 * The reference decodes every address while unmarshalling the JSON, before any range-set
 * validation, so a malformed one is reported bare (no "invalid range set N:" prefix).
 */
export function checkDecodable(raw: RawRange): void {
  if (raw.subnet !== undefined && raw.subnet !== '' && !parseCIDR(raw.subnet))
    throw new Error(`invalid CIDR address: ${raw.subnet}`);
  for (const t of [raw.rangeStart, raw.rangeEnd, raw.gateway]) if (t !== undefined && t !== '') ipOrThrow(t);
}

/** Range.Canonicalize: fills defaults, checks sizes and bounds. */
export function canonicalizeRange(raw: RawRange): Range {
  if (raw.subnet === undefined || raw.subnet === '') throw new Error('IP <nil> not v4 nor v6');
  const cidr = parseCIDR(raw.subnet);
  if (!cidr) throw new Error(`invalid CIDR address: ${raw.subnet}`);
  const family = cidr.addr.family;
  const net = networkOf(cidr.addr, cidr.prefix);
  const netText = formatCIDR(net, cidr.prefix);
  if (cidr.prefix > bitsOf(family) - 2) throw new Error(`Network ${netText} too small to allocate from`);
  if (net.value !== cidr.addr.value) {
    throw new Error(
      `Network has host bits set. For a subnet mask of length ${cidr.prefix} the network address is ${formatIP(net)}`,
    );
  }
  // 0.0.0.0/8 is "this network" and ::/8 holds the unspecified and loopback addresses: a subnet
  // starting at 0 would hand out 0.0.0.2 or ::2 (the reference fails on such subnets, with a
  // garbled range in its message).
  if (net.value === 0n)
    throw new Error(
      `Network ${netText} contains the unspecified address ${formatIP(net)}: not a range to allocate from`,
    );
  const base = { family, network: net.value, prefix: cidr.prefix };
  const inSubnet = (a: Addr): boolean => a.family === family && a.value >= net.value && a.value <= broadcast(base);
  const given = (text: string | undefined): Addr | undefined =>
    text === undefined || text === '' ? undefined : ipOrThrow(text);
  const gw = given(raw.gateway);
  const start = given(raw.rangeStart);
  const end = given(raw.rangeEnd);
  // The reference checks each bound against the subnet and against the other given bound.
  if (start && (!inSubnet(start) || (end !== undefined && start.value > end.value))) {
    throw new Error(`RangeStart ${formatIP(start)} not in network ${netText}`);
  }
  const startValue = start ? start.value : net.value + 1n;
  if (end && (!inSubnet(end) || end.value < startValue))
    throw new Error(`RangeEnd ${formatIP(end)} not in network ${netText}`);
  if (gw && gw.family !== family) throw new Error(`gateway ${formatIP(gw)} not in network ${netText}`);
  const lastDefault = family === 4 ? broadcast(base) - 1n : broadcast(base);
  return { ...base, start: startValue, end: end ? end.value : lastDefault, gateway: gw ? gw.value : net.value + 1n };
}

export const rangeContains = (r: Range, a: Addr): boolean =>
  a.family === r.family && a.value >= r.start && a.value <= r.end;
export const rangeFor = (s: RangeSet, a: Addr): Range | undefined => s.find((r) => rangeContains(r, a));

function rangesOverlap(a: Range, b: Range): boolean {
  if (a.family !== b.family) return false;
  return a.start <= b.end && b.start <= a.end;
}

/** RangeSet.Canonicalize. */
export function canonicalizeRangeSet(raws: readonly RawRange[]): RangeSet {
  if (raws.length === 0) throw new Error('empty range set');
  const set = raws.map(canonicalizeRange);
  const fam = set[0]?.family;
  if (set.some((r) => r.family !== fam)) throw new Error('mixed address families');
  for (let i = 0; i < set.length; i++) {
    for (let j = i + 1; j < set.length; j++) {
      const a = set[i] as Range;
      const b = set[j] as Range;
      if (rangesOverlap(a, b)) throw new Error(`subnets ${rangeString(a)} and ${rangeString(b)} overlap`);
    }
  }
  return set;
}

export const rangeSetsOverlap = (a: RangeSet, b: RangeSet): boolean =>
  a.some((x) => b.some((y) => rangesOverlap(x, y)));
export const familyOf = (s: RangeSet): Family => (s[0] as Range).family;

export interface Candidate {
  readonly range: Range;
  readonly value: bigint;
}

/**
 * The reference's round-robin order: start right after `last` when it lies in the set, else at
 * the first range's start; walk to each range's end, jump to the next range's start (wrapping),
 * skip each range's gateway, and stop when back at the first candidate.
 */
export function* candidates(set: RangeSet, last: Addr | undefined): Generator<Candidate> {
  let idx = 0;
  let cur: bigint | undefined;
  if (last) {
    const i = set.findIndex((r) => rangeContains(r, last));
    if (i >= 0) {
      idx = i;
      cur = last.value;
    }
  }
  let first: bigint | undefined;
  let firstIdx = -1;
  for (;;) {
    let r = set[idx] as Range;
    if (cur === undefined) {
      cur = r.start;
    } else if (cur === r.end) {
      idx = (idx + 1) % set.length;
      r = set[idx] as Range;
      cur = r.start;
    } else {
      cur += 1n;
    }
    if (first === undefined) {
      first = cur;
      firstIdx = idx;
    } else if (cur === first && idx === firstIdx) {
      return;
    }
    if (cur === r.gateway) continue;
    yield { range: r, value: cur };
  }
}

/** Number of allocatable addresses of a set (gateways inside a range excluded). */
export function setSize(set: RangeSet): bigint {
  let n = 0n;
  for (const r of set) n += r.end - r.start + 1n - (r.gateway >= r.start && r.gateway <= r.end ? 1n : 0n);
  return n;
}
