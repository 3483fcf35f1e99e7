import { describe, it, expect } from '@jest/globals';
import { PROBE_LIMIT, pickNext } from './allocator';
import { parseIP } from '../addr/ip';
import { canonicalizeRangeSet } from './ranges';

describe('pickNext', () => {
  const set = canonicalizeRangeSet([{ subnet: '10.0.0.0/16' }]);
  it('lists the store once after PROBE_LIMIT misses instead of probing every busy address', () => {
    const busy = new Set<string>();
    for (let i = 2; i < 50_002; i++) busy.add(`10.0.${i >> 8}.${i & 255}`);
    let probes = 0;
    let listings = 0;
    const got = pickNext(set, undefined, {
      claim: (ip) => (probes++, !busy.has(ip)),
      names: () => (listings++, busy),
    });
    expect(got?.ip).toBe('10.0.195.82');
    expect(listings).toBe(1);
    expect(probes).toBe(PROBE_LIMIT + 1);
  });
  it('returns undefined when the set is exhausted', () => {
    const small = canonicalizeRangeSet([{ subnet: '10.0.0.0/30' }]);
    expect(pickNext(small, parseIP('10.0.0.2'), { claim: () => false, names: () => new Set() })).toBeUndefined();
  });
});
