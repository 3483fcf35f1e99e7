/** IP / MAC text ↔ bytes. */
import { describe as group, expect, it } from '@jest/globals';
import { broadcastOf, formatIp, formatMac, parseIp, parseMac, parsePrefix } from './inet';

group('inet', () => {
  it('parses and prints IPv4 and IPv6 (RFC 5952)', () => {
    expect(parseIp('10.1.2.3')).toEqual({ family: 4, bytes: Uint8Array.of(10, 1, 2, 3) });
    expect(formatIp(parseIp('FD00:0:0:0::0002').bytes)).toBe('fd00::2');
    expect(formatIp(parseIp('2001:db8:0:0:1:0:0:1').bytes)).toBe('2001:db8::1:0:0:1');
    expect(formatIp(new Uint8Array(16))).toBe('::');
    expect(() => parseIp('10.1.2')).toThrow(/not an IP/);
    expect(() => parseIp('fe80::1%eth0')).toThrow(/not an IP/);
    expect(() => formatIp(new Uint8Array(5))).toThrow(/4 or 16 bytes/);
  });

  it('parses prefixes keeping host bits, and computes IPv4 broadcast', () => {
    const p = parsePrefix('10.0.0.2/23');
    expect(p.len).toBe(23);
    expect(formatIp(p.bytes)).toBe('10.0.0.2');
    expect(formatIp(broadcastOf(p))).toBe('10.0.1.255');
    expect(formatIp(broadcastOf(parsePrefix('192.168.7.9/32')))).toBe('192.168.7.9');
    expect(() => parsePrefix('::1/129')).toThrow(/out of range/);
    expect(() => parsePrefix('default')).toThrow(/not a CIDR/);
  });

  it('parses and prints MACs', () => {
    expect(formatMac(parseMac('0A:58:0a:F4:00:01'))).toBe('0a:58:0a:f4:00:01');
    expect(() => parseMac('0a:58:0a:f4:00')).toThrow(/not a MAC/);
  });
});
