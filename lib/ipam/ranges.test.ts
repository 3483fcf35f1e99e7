import { describe, it, expect } from '@jest/globals';
import { formatIP, parseIP } from '../addr/ip';
import { candidates, canonicalizeRange, canonicalizeRangeSet, rangeSetString, setSize, type RangeSet } from './ranges';

const ip = (s: string) =>
  parseIP(s) ??
  (() => {
    throw new Error(s);
  })();
const list = (set: RangeSet, last?: string, n = 100): string[] => {
  const out: string[] = [];
  for (const c of candidates(set, last ? ip(last) : undefined)) {
    out.push(formatIP({ family: c.range.family, value: c.value }));
    if (out.length >= n) break;
  }
  return out;
};

describe('canonicalizeRange', () => {
  it('fills the reference defaults', () => {
    expect(rangeSetString([canonicalizeRange({ subnet: '10.1.2.0/24' })])).toBe('10.1.2.1-10.1.2.254');
    expect(rangeSetString([canonicalizeRange({ subnet: 'fd00::/120' })])).toBe('fd00::1-fd00::ff');
    const r = canonicalizeRange({ subnet: '10.1.2.0/24', gateway: '10.1.2.254' });
    expect(formatIP({ family: 4, value: r.gateway })).toBe('10.1.2.254');
  });
  it.each([
    [
      { subnet: '10.1.2.3/24' },
      'Network has host bits set. For a subnet mask of length 24 the network address is 10.1.2.0',
    ],
    [{ subnet: '10.1.2.0/31' }, 'Network 10.1.2.0/31 too small to allocate from'],
    // Subnets at address 0 (issue 20 row 11: they handed out 0.0.0.2/0; the reference fails garbled).
    [
      { subnet: '0.0.0.0/0' },
      'Network 0.0.0.0/0 contains the unspecified address 0.0.0.0: not a range to allocate from',
    ],
    [
      { subnet: '0.0.0.0/8' },
      'Network 0.0.0.0/8 contains the unspecified address 0.0.0.0: not a range to allocate from',
    ],
    [{ subnet: '::/0' }, 'Network ::/0 contains the unspecified address ::: not a range to allocate from'],
    [{ subnet: '::/1' }, 'Network ::/1 contains the unspecified address ::: not a range to allocate from'],
    [{ subnet: '10.1.2.0/32' }, 'Network 10.1.2.0/32 too small to allocate from'],
    [{ subnet: 'fd00::/127' }, 'Network fd00::/127 too small to allocate from'],
    [{ subnet: 'fd00::/128' }, 'Network fd00::/128 too small to allocate from'],
    [{ subnet: '10.1.2.0/24', rangeStart: '10.1.3.1' }, 'RangeStart 10.1.3.1 not in network 10.1.2.0/24'],
    [{ subnet: '10.1.2.0/24', rangeEnd: '10.1.3.1' }, 'RangeEnd 10.1.3.1 not in network 10.1.2.0/24'],
    [
      { subnet: '10.1.2.0/24', rangeStart: '10.1.2.50', rangeEnd: '10.1.2.40' },
      'RangeStart 10.1.2.50 not in network 10.1.2.0/24',
    ],
    [{ subnet: 'bogus' }, 'invalid CIDR address: bogus'],
    [{}, 'IP <nil> not v4 nor v6'],
    [{ subnet: '10.1.2.0/24', gateway: 'bog' }, 'invalid IP address: bog'],
  ])('rejects %j', (raw, msg) => {
    expect(() => canonicalizeRange(raw)).toThrow(msg);
  });
});

describe('canonicalizeRangeSet', () => {
  it('rejects empty, mixed and overlapping sets', () => {
    expect(() => canonicalizeRangeSet([])).toThrow('empty range set');
    expect(() => canonicalizeRangeSet([{ subnet: '10.1.2.0/24' }, { subnet: 'fd00::/64' }])).toThrow(
      'mixed address families',
    );
    expect(() => canonicalizeRangeSet([{ subnet: '10.1.2.0/24' }, { subnet: '10.1.2.0/25' }])).toThrow(
      'subnets 10.1.2.1-10.1.2.254 and 10.1.2.1-10.1.2.126 overlap',
    );
  });
});

describe('candidates (round robin)', () => {
  const set = canonicalizeRangeSet([{ subnet: '10.0.0.0/29' }, { subnet: '10.0.1.0/29', rangeStart: '10.0.1.4' }]);
  it('starts at rangeStart and skips gateways', () => {
    expect(list(set)).toEqual([
      '10.0.0.2',
      '10.0.0.3',
      '10.0.0.4',
      '10.0.0.5',
      '10.0.0.6',
      '10.0.1.4',
      '10.0.1.5',
      '10.0.1.6',
    ]);
  });
  it('starts after the last reserved address and wraps across ranges', () => {
    expect(list(set, '10.0.0.5')).toEqual([
      '10.0.0.6',
      '10.0.1.4',
      '10.0.1.5',
      '10.0.1.6',
      '10.0.0.2',
      '10.0.0.3',
      '10.0.0.4',
      '10.0.0.5',
    ]);
  });
  it('ignores a last reserved address outside the set', () => {
    expect(list(set, '192.168.0.1')[0]).toBe('10.0.0.2');
  });
  it('counts allocatable addresses', () => {
    expect(setSize(set)).toBe(8n);
  });
});
