/** Wire format: framing, attribute alignment and nesting, family headers, NLMSG_ERROR decoding. */
import { describe as group, expect, it } from '@jest/globals';
import {
  IFLA_IFNAME,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  IFLA_MTU,
  NLA_F_NESTED,
  NLMSG_ERROR,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_REQUEST,
  RTM_GETLINK,
} from './constants';
import { getLinkByName } from './links';
import {
  Attrs,
  attr,
  decodeError,
  decodeIfAddr,
  decodeIfInfo,
  decodeRtMsg,
  encodeAttrs,
  encodeErrorPayload,
  encodeIfAddr,
  encodeIfInfo,
  encodeMessage,
  encodeRtMsg,
  parseAttrs,
  parseMessages,
  withSeq,
  type NlMessage,
} from './message';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

group('encodeMessage', () => {
  it('frames RTM_GETLINK name=eth0 byte for byte', () => {
    const req = getLinkByName('eth0');
    const b = encodeMessage({ type: req.type, flags: NLM_F_REQUEST | NLM_F_ACK, seq: 1 }, req.header, req.attrs);
    expect(hex(b)).toBe(
      [
        '34000000 1200 0500 01000000 00000000', // nlmsghdr: len 52, RTM_GETLINK, REQUEST|ACK, seq 1, pid 0
        '00 00 0000 00000000 00000000 00000000', // ifinfomsg, all zero
        '0900 0300 6574683000 000000', // IFLA_IFNAME "eth0\0", padded to 12
        '0800 1d00 08000000', // IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS
      ]
        .join('')
        .replace(/\s+/g, ''),
    );
  });

  it('nests attributes with each length covering its children and padding between them', () => {
    const b = encodeAttrs([attr.nest(IFLA_LINKINFO, [attr.str(IFLA_INFO_KIND, 'veth')]), attr.u32(IFLA_MTU, 1500)]);
    // nest header (4) + "veth\0" attr (4+5 → 12 aligned) = 16; then mtu (8)
    expect(hex(b)).toBe('1000' + '1200' + '0900' + '0100' + '7665746800000000' + '0800' + '0400' + 'dc050000');
  });

  it('keeps NLA_F_NESTED in the type when asked', () => {
    const b = encodeAttrs([attr.nest(12 | NLA_F_NESTED, [attr.u8(4, 1)])]);
    expect(hex(b)).toBe('0c00' + '0c80' + '0500' + '0400' + '01000000');
    const [a] = parseAttrs(b);
    expect(a).toMatchObject({ type: 12, nestedFlag: true });
  });

  it('pads the family header to 4 bytes and encodes signed values', () => {
    const b = encodeAttrs([attr.s32(28, -1), attr.u16(1, 0x1234)]);
    expect(hex(b)).toBe('08001c00ffffffff' + '0600010034120000');
  });
});

group('parsing', () => {
  it('splits a datagram into aligned messages and rewrites sequence numbers', () => {
    const one = encodeMessage({ type: 16, flags: 2, seq: 7, pid: 9 }, encodeIfInfo({ index: 3 }), [
      attr.str(IFLA_IFNAME, 'abc'),
    ]);
    const two = encodeMessage({ type: 3, flags: 2, seq: 7 }, new Uint8Array(4));
    const d = new Uint8Array([...one, ...two]);
    const msgs = parseMessages(d);
    expect(msgs.map((m) => [m.type, m.flags, m.seq, m.pid])).toEqual([
      [16, 2, 7, 9],
      [3, 2, 7, 0],
    ]);
    expect(decodeIfInfo(msgs[0]?.payload ?? new Uint8Array()).index).toBe(3);
    expect(Attrs.parse(msgs[0]?.payload ?? new Uint8Array(), 16).str(IFLA_IFNAME)).toBe('abc');
    expect(parseMessages(withSeq(d, 42)).map((m) => m.seq)).toEqual([42, 42]);
  });

  it('refuses a message whose length runs past the datagram', () => {
    const b = encodeMessage({ type: 16, flags: 0 }, encodeIfInfo());
    expect(() => parseMessages(b.subarray(0, b.length - 4))).toThrow(/malformed netlink message/);
  });

  it('stops at a malformed attribute instead of reading past the buffer', () => {
    const b = bytes('0800 0100 01000000 ff00 0200');
    expect(parseAttrs(b).map((a) => a.type)).toEqual([1]);
  });

  it('reads typed attributes, first occurrence winning, absent ones undefined', () => {
    const a = Attrs.parse(
      encodeAttrs([attr.u32(1, 7), attr.u32(1, 8), attr.u8(2, 5), attr.str(3, 'x'), attr.nest(4, [attr.u16(1, 9)])]),
    );
    expect([a.u32(1), a.u8(2), a.str(3), a.nested(4).u16(1), a.u32(99), a.nested(99).list]).toEqual([
      7,
      5,
      'x',
      9,
      undefined,
      [],
    ]);
    expect(a.u32(2)).toBeUndefined(); // a u8 is too short for a u32
  });
});

group('family headers', () => {
  it('round-trip ifinfomsg, ifaddrmsg and rtmsg', () => {
    const ifi = { family: 7, type: 1, index: 42, flags: 0x1003, change: 0xffffffff };
    expect(decodeIfInfo(encodeIfInfo(ifi))).toEqual(ifi);
    const ifa = { family: 10, prefixLen: 64, flags: 0x82, scope: 253, index: 5 };
    expect(decodeIfAddr(encodeIfAddr(ifa))).toEqual(ifa);
    const rtm = { family: 2, dstLen: 24, srcLen: 0, tos: 0, table: 254, protocol: 3, scope: 253, type: 1, flags: 16 };
    expect(decodeRtMsg(encodeRtMsg(rtm))).toEqual(rtm);
    expect(hex(encodeIfInfo(ifi))).toBe('0700' + '0100' + '2a000000' + '03100000' + 'ffffffff');
  });

  it('refuses a payload too short for its header', () => {
    expect(() => decodeRtMsg(new Uint8Array(8))).toThrow(/too short for rtmsg/);
  });
});

group('decodeError', () => {
  const request: NlMessage = { type: RTM_GETLINK, flags: 5, seq: 77, pid: 0, payload: new Uint8Array(16) };
  const errorMsg = (flags: number, payload: Uint8Array): NlMessage => ({
    type: NLMSG_ERROR,
    flags,
    seq: 77,
    pid: 0,
    payload,
  });

  it('reads an acknowledgement as errno 0', () => {
    const e = decodeError(errorMsg(NLM_F_CAPPED, encodeErrorPayload(0, request)));
    expect(e).toEqual({ errno: 0, request: { type: RTM_GETLINK, flags: 5, seq: 77 } });
  });

  it('reads a capped error without extended ack', () => {
    expect(decodeError(errorMsg(NLM_F_CAPPED, encodeErrorPayload(19, request)))).toMatchObject({ errno: 19 });
    expect(decodeError(errorMsg(NLM_F_CAPPED, encodeErrorPayload(19, request))).extack).toBeUndefined();
  });

  it('reads the extended-ack text and offset after a capped header', () => {
    const p = encodeErrorPayload(95, request, 'Unknown device type');
    const e = decodeError(errorMsg(NLM_F_CAPPED | NLM_F_ACK_TLVS, p));
    expect(e).toMatchObject({ errno: 95, extack: 'Unknown device type' });
  });

  it('skips the echoed request when the ack is not capped', () => {
    // int error, the whole request (header + 16-byte body), then TLVs
    const head = bytes('efffffff' + '20000000 1200 0500 4d000000 00000000' + '00'.repeat(16));
    const tlvs = encodeAttrs([
      attr.str(NLMSGERR_ATTR_MSG, 'ipv4: Address already assigned'),
      attr.u32(NLMSGERR_ATTR_OFFS, 20),
    ]);
    const e = decodeError(errorMsg(NLM_F_ACK_TLVS, new Uint8Array([...head, ...tlvs])));
    expect(e).toEqual({
      errno: 17,
      request: { type: RTM_GETLINK, flags: 5, seq: 77 },
      extack: 'ipv4: Address already assigned',
      badOffset: 20,
    });
  });
});
