import { describe, expect, it } from '@jest/globals';
import { formatIPBytes, parseIPv4, parseIPv6 } from './text';

const v6 = (s: string): string | undefined => {
  const b = parseIPv6(s);
  return b && formatIPBytes(b);
};

describe('address text', () => {
  it('parses dotted-quad IPv4 strictly', () => {
    expect(parseIPv4('10.1.2.3')).toEqual(Uint8Array.from([10, 1, 2, 3]));
    expect(parseIPv4('0.0.0.0')).toEqual(Uint8Array.from([0, 0, 0, 0]));
    for (const bad of ['', '10.1.2', '10.1.2.3.4', '010.1.1.1', '10.1.1.256', '1.2.3.-1', ' 1.2.3.4', '1.2.3.4 '])
      expect(parseIPv4(bad)).toBeUndefined();
  });
  it('parses and prints IPv6 in RFC 5952 form', () => {
    expect(v6('fd00:0:0:0:0:0:0:2')).toBe('fd00::2');
    expect(v6('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(v6('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(v6('::')).toBe('::');
    expect(v6('::1')).toBe('::1');
    expect(v6('FD00::ABCD')).toBe('fd00::abcd');
    expect(v6('fd00:1:2:3:4:5:6::')).toBe('fd00:1:2:3:4:5:6:0');
    expect(v6('0000:0000::0001')).toBe('::1');
    expect(v6('::ffff:10.0.0.1')).toBe('::ffff:a00:1');
    expect(v6('64:ff9b::192.0.2.33')).toBe('64:ff9b::c000:221');
  });
  it('rejects what Go rejects', () => {
    for (const bad of [
      '',
      ':',
      ':::',
      '1::2::3',
      ':1::',
      '1:',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8:9',
      '1::2:3:4:5:6:7:8',
      '12345::',
      'g::',
      'fe80::1%eth0',
      '::1.2.3',
      '::1.2.3.4.5',
      '10.1.1.1',
    ])
      expect(parseIPv6(bad)).toBeUndefined();
  });
});
