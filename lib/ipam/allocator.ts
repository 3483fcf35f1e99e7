/**
 * Picks addresses from a range set in the reference's round-robin order. Storage-agnostic:
 * the caller supplies `claim` (atomic reserve, or an existence test for STATUS) and `names`
 * (one listing of the store). Probing is one syscall per busy address; after PROBE_LIMIT
 * misses we list the directory once and skip known-busy addresses in memory, so a nearly full
 * /16 costs one readdir rather than tens of thousands of failed links.
 */
import { formatIP, type Addr } from '../addr/ip';
import { candidates, type Range, type RangeSet } from './ranges';

export const PROBE_LIMIT = 64;

export interface Claimer {
  /** True when the address was (or could be) claimed. */
  claim(ip: string): boolean;
  /** Names currently present in the store. */
  names(): ReadonlySet<string>;
}

export interface Picked {
  readonly range: Range;
  readonly addr: Addr;
  readonly ip: string;
}

export function pickNext(set: RangeSet, last: Addr | undefined, c: Claimer): Picked | undefined {
  let misses = 0;
  let busy: ReadonlySet<string> | undefined;
  for (const cand of candidates(set, last)) {
    const addr: Addr = { family: cand.range.family, value: cand.value };
    const ip = formatIP(addr);
    if (busy?.has(ip)) continue;
    if (c.claim(ip)) return { range: cand.range, addr, ip };
    if (++misses === PROBE_LIMIT) busy = c.names();
  }
  return undefined;
}
