import { describe, it, expect } from '@jest/globals';
import { bitsOf, FAMILIES, familyOfText, formatIP, parseCIDR, parseIP } from './ip';

const roundTrip = (s: string): string | undefined => {
  const a = parseIP(s);
  return a && formatIP(a);
};

describe('ip', () => {
  it('formats IPv6 like Go net.IP.String()', () => {
    expect(roundTrip('fd00:0:0:0:0:0:0:2')).toBe('fd00::2');
    expect(roundTrip('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1'); // first longest run
    expect(roundTrip('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1'); // single zero not compressed
    expect(roundTrip('::')).toBe('::');
    expect(roundTrip('::1')).toBe('::1');
    expect(roundTrip('FD00::ABCD')).toBe('fd00::abcd');
    expect(roundTrip('fd00:1:2:3:4:5:6::')).toBe('fd00:1:2:3:4:5:6:0');
  });
  it('treats IPv4-mapped IPv6 as IPv4, as Go does', () => {
    expect(parseIP('::ffff:10.0.0.1')).toEqual({ family: 4, value: 0x0a000001n });
  });
  it('rejects what Go rejects', () => {
    for (const bad of ['', '10.1.1', '010.1.1.1', '10.1.1.256', 'fe80::1%eth0', 'bogus', '10.1.1.1/24'])
      expect(parseIP(bad)).toBeUndefined();
  });
  it('parses CIDRs keeping host bits', () => {
    expect(parseCIDR('10.1.2.3/24')).toEqual({ addr: { family: 4, value: 0x0a010203n }, prefix: 24 });
    expect(parseCIDR('10.1.2.3/33')).toBeUndefined();
    expect(parseCIDR('fd00::/64')?.prefix).toBe(64);
    expect(parseCIDR('fd00::')).toBeUndefined();
  });
});

describe('families', () => {
  it('4 and 6, from text without parsing it', () => {
    expect(FAMILIES).toEqual([4, 6]);
    expect(familyOfText('10.0.0.1')).toBe(4);
    expect(familyOfText('10.0.0.0/8')).toBe(4);
    expect(familyOfText('fd00::1/64')).toBe(6);
    expect(familyOfText('::')).toBe(6);
    expect(bitsOf(4)).toBe(32);
    expect(bitsOf(6)).toBe(128);
  });
});
