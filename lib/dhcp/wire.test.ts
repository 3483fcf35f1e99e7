/** The DHCPv4 codec: round trips, long options, overload, and the option values the result reads. */
import { describe, expect, it } from '@jest/globals';
import { buildUdpPacket, parseUdpPacket } from './frame';
import {
  classlessRoutes,
  decodeMessage,
  domainSearch,
  encodeMessage,
  ipToBytes,
  maskPrefix,
  Opt,
  staticRoutes,
  type DhcpMessage,
} from './wire';

const base = (options: Map<number, Uint8Array>): DhcpMessage => ({
  op: 1,
  htype: 1,
  hlen: 6,
  hops: 0,
  xid: 0xdeadbeef,
  secs: 3,
  flags: 0x8000,
  ciaddr: '0.0.0.0',
  yiaddr: '10.0.0.5',
  siaddr: '0.0.0.0',
  giaddr: '0.0.0.0',
  chaddr: Uint8Array.of(2, 1, 2, 3, 4, 5),
  options,
});

describe('DHCP messages', () => {
  it('encode and decode round-trip, padded to 300 bytes', () => {
    const m = base(
      new Map([
        [Opt.MessageType, Uint8Array.of(1)],
        [Opt.HostName, Buffer.from('pod-a')],
      ]),
    );
    const bytes = encodeMessage(m);
    expect(bytes.length).toBe(300);
    const back = decodeMessage(bytes);
    const plain = (x: DhcpMessage) => ({
      ...x,
      chaddr: [...x.chaddr],
      options: [...x.options].map(([k, v]) => [k, [...v]]),
    });
    expect(plain(back)).toEqual(plain(m));
  });

  it('splits a value longer than 255 bytes and joins it again (RFC 3396)', () => {
    const long = Buffer.alloc(600, 7);
    const back = decodeMessage(encodeMessage(base(new Map([[Opt.ClassId, long]]))));
    expect(Buffer.from(back.options.get(Opt.ClassId) ?? [])).toEqual(long);
  });

  it('reads options from file and sname when option 52 says so; skips pads', () => {
    const bytes = encodeMessage(base(new Map([[Opt.Overload, Uint8Array.of(3)]])));
    bytes.set([Opt.Pad, Opt.DomainName, 3, 0x61, 0x62, 0x63, Opt.End], 108); // file
    bytes.set([Opt.Router, 4, 10, 0, 0, 1, Opt.End], 44); // sname
    const m = decodeMessage(bytes);
    expect(Buffer.from(m.options.get(Opt.DomainName) ?? []).toString()).toBe('abc');
    expect([...(m.options.get(Opt.Router) ?? [])]).toEqual([10, 0, 0, 1]);
  });

  it('refuses truncated and foreign messages', () => {
    expect(() => decodeMessage(new Uint8Array(100))).toThrow(/too short/);
    expect(() => decodeMessage(new Uint8Array(300))).toThrow(/magic cookie/);
    const bytes = encodeMessage(base(new Map()));
    bytes.set([Opt.HostName, 200], 240);
    expect(() => decodeMessage(bytes)).toThrow(/runs past the end/);
  });

  it('IPv4/UDP framing: checksums, and only UDP comes back out', () => {
    const pkt = buildUdpPacket({
      src: '0.0.0.0',
      dst: '255.255.255.255',
      srcPort: 68,
      dstPort: 67,
      payload: Uint8Array.of(1, 2, 3),
    });
    expect(parseUdpPacket(pkt)).toEqual({
      src: '0.0.0.0',
      dst: '255.255.255.255',
      srcPort: 68,
      dstPort: 67,
      payload: Uint8Array.of(1, 2, 3),
    });
    const broken = pkt.slice();
    broken[12] = 9; // the header checksum no longer matches
    expect(parseUdpPacket(broken)).toBeUndefined();
    const icmp = pkt.slice();
    icmp[9] = 1;
    expect(parseUdpPacket(icmp)).toBeUndefined();
  });
});

describe('option values', () => {
  it('classless static routes (RFC 3442), including the default route and a /32', () => {
    const b = Uint8Array.from([
      16, 10, 99, 10, 0, 0, 254, 0, 10, 0, 0, 1, 32, 1, 2, 3, 4, 0, 0, 0, 0, 24, 192, 168, 5, 10, 0, 0, 2,
    ]);
    expect(classlessRoutes(b)).toEqual([
      { dst: '10.99.0.0', prefix: 16, gw: '10.0.0.254' },
      { dst: '0.0.0.0', prefix: 0, gw: '10.0.0.1' },
      { dst: '1.2.3.4', prefix: 32, gw: '0.0.0.0' },
      { dst: '192.168.5.0', prefix: 24, gw: '10.0.0.2' },
    ]);
    expect(classlessRoutes(Uint8Array.from([33, 0, 0, 0, 0, 0]))).toBeUndefined();
    expect(classlessRoutes(Uint8Array.from([24, 10, 0]))).toBeUndefined();
  });

  it('static routes get the classful mask of their destination', () => {
    expect(
      staticRoutes(Uint8Array.from([10, 0, 0, 0, 1, 1, 1, 1, 172, 16, 0, 0, 1, 1, 1, 2, 192, 168, 1, 0, 1, 1, 1, 3])),
    ).toEqual([
      { dst: '10.0.0.0', prefix: 8, gw: '1.1.1.1' },
      { dst: '172.16.0.0', prefix: 16, gw: '1.1.1.2' },
      { dst: '192.168.1.0', prefix: 24, gw: '1.1.1.3' },
    ]);
  });

  it('the domain search list with compression pointers (RFC 3397)', () => {
    // "eng.example.com", then "example.com" as a pointer into the first name.
    const b = Uint8Array.from([3, 101, 110, 103, 7, ...Buffer.from('example'), 3, 99, 111, 109, 0, 0xc0, 4]);
    expect(domainSearch(b)).toEqual(['eng.example.com', 'example.com']);
    expect(domainSearch(Uint8Array.from([0xc0, 0]))).toBeUndefined(); // a pointer to itself
  });

  it('netmasks to prefix lengths; a non-contiguous one is refused', () => {
    expect(maskPrefix('255.255.255.0')).toBe(24);
    expect(maskPrefix('255.255.255.255')).toBe(32);
    expect(maskPrefix('0.0.0.0')).toBe(0);
    expect(maskPrefix('255.0.255.0')).toBeUndefined();
    expect(() => ipToBytes('1.2.3')).toThrow();
  });
});
