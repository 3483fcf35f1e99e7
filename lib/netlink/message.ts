/**
 * Netlink wire format, pure (no I/O): the 16-byte nlmsghdr, the rtnetlink family headers
 * (ifinfomsg, ifaddrmsg, rtmsg, ndmsg), 4-byte aligned attributes (nested or not), splitting a receive
 * buffer into messages, and reading NLMSG_ERROR (errno plus extended-ack text).
 * Integers are in host byte order, which is little-endian on every platform we build for.
 */
import { rawBytes, rawString } from '../sys/raw-text';
import {
  IFADDRMSG_LEN,
  IFINFOMSG_LEN,
  NDMSG_LEN,
  NLA_F_NESTED,
  NLA_TYPE_MASK,
  NLMSG_HDRLEN,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  RTMSG_LEN,
} from './constants';

const LE = true;
export const align4 = (n: number): number => (n + 3) & ~3;
const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

// ---------------------------------------------------------------------------------------------
// Messages

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Everything after the nlmsghdr: the family header, then attributes. */
  payload: Uint8Array;
}

/** One complete message: nlmsghdr + family header + attributes, padded to 4 bytes. */
export function encodeMessage(
  h: { type: number; flags: number; seq?: number; pid?: number },
  familyHeader: Uint8Array,
  attrs: readonly AttrSpec[] = [],
): Uint8Array {
  const len = NLMSG_HDRLEN + align4(familyHeader.length) + attrsSize(attrs);
  const out = new Uint8Array(len);
  const v = view(out);
  v.setUint32(0, len, LE);
  v.setUint16(4, h.type, LE);
  v.setUint16(6, h.flags, LE);
  v.setUint32(8, h.seq ?? 0, LE);
  v.setUint32(12, h.pid ?? 0, LE);
  out.set(familyHeader, NLMSG_HDRLEN);
  writeAttrs(out, NLMSG_HDRLEN + align4(familyHeader.length), attrs);
  return out;
}

/** Splits a datagram into its messages; throws on a truncated or malformed one. */
export function parseMessages(buf: Uint8Array): NlMessage[] {
  const v = view(buf);
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = v.getUint32(off, LE);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      throw new Error(`malformed netlink message at offset ${off}: length ${len}, ${buf.length - off} bytes left`);
    }
    out.push({
      type: v.getUint16(off + 4, LE),
      flags: v.getUint16(off + 6, LE),
      seq: v.getUint32(off + 8, LE),
      pid: v.getUint32(off + 12, LE),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** Rewrites the sequence number of every message in a datagram (test fixtures replayed). */
export function withSeq(buf: Uint8Array, seq: number): Uint8Array {
  const out = Uint8Array.from(buf);
  const v = view(out);
  for (let off = 0; off + NLMSG_HDRLEN <= out.length; off += align4(v.getUint32(off, LE) || NLMSG_HDRLEN)) {
    v.setUint32(off + 8, seq, LE);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Attributes: encoding

/** An attribute to send: raw bytes, or a list of attributes nested inside it. */
export interface AttrSpec {
  type: number;
  value: Uint8Array | readonly AttrSpec[];
}

const u32Bytes = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  view(b).setUint32(0, n >>> 0, LE);
  return b;
};

/** Builders for attribute values. */
export const attr = {
  bytes: (type: number, value: Uint8Array): AttrSpec => ({ type, value }),
  u8: (type: number, n: number): AttrSpec => ({ type, value: Uint8Array.of(n & 0xff) }),
  u16: (type: number, n: number): AttrSpec => {
    const b = new Uint8Array(2);
    view(b).setUint16(0, n, LE);
    return { type, value: b };
  },
  u32: (type: number, n: number): AttrSpec => ({ type, value: u32Bytes(n) }),
  s32: (type: number, n: number): AttrSpec => ({ type, value: u32Bytes(n | 0) }),
  /**
   * A NUL-terminated string, as the kernel's NLA_STRING/NLA_NUL_STRING policies expect; a link
   * name keeps the bytes it was given as (lib/sys/raw-text.ts), not UTF-8 of U+FFFD.
   */
  str: (type: number, s: string): AttrSpec => {
    const enc = rawBytes(s);
    const b = new Uint8Array(enc.length + 1);
    b.set(enc);
    return { type, value: b };
  },
  /** Nested attributes; pass `type | NLA_F_NESTED` where the kernel insists on the flag. */
  nest: (type: number, children: readonly AttrSpec[]): AttrSpec => ({ type, value: children }),
};

function attrSize(a: AttrSpec): number {
  const body = a.value instanceof Uint8Array ? a.value.length : attrsSize(a.value);
  return align4(4 + body);
}

export function attrsSize(attrs: readonly AttrSpec[]): number {
  let n = 0;
  for (const a of attrs) n += attrSize(a);
  return n;
}

/** Writes attributes at `off`; returns the offset after the last one (aligned). */
function writeAttrs(out: Uint8Array, off: number, attrs: readonly AttrSpec[]): number {
  const v = view(out);
  for (const a of attrs) {
    const start = off;
    v.setUint16(start + 2, a.type, LE);
    if (a.value instanceof Uint8Array) {
      out.set(a.value, start + 4);
      v.setUint16(start, 4 + a.value.length, LE);
      off = start + align4(4 + a.value.length);
    } else {
      off = writeAttrs(out, start + 4, a.value);
      v.setUint16(start, off - start, LE);
    }
  }
  return off;
}

/** Attributes alone (e.g. the ifinfomsg + attributes inside VETH_INFO_PEER). */
export function encodeAttrs(attrs: readonly AttrSpec[]): Uint8Array {
  const out = new Uint8Array(attrsSize(attrs));
  writeAttrs(out, 0, attrs);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Attributes: decoding

export interface NlAttr {
  /** Type without the NLA_F_NESTED / NLA_F_NET_BYTEORDER bits. */
  type: number;
  nestedFlag: boolean;
  data: Uint8Array;
}

/** Parses the attributes in `buf` from `offset`; stops at the first malformed one. */
export function parseAttrs(buf: Uint8Array, offset = 0): NlAttr[] {
  const v = view(buf);
  const out: NlAttr[] = [];
  let off = offset;
  while (off + 4 <= buf.length) {
    const len = v.getUint16(off, LE);
    if (len < 4 || off + len > buf.length) break;
    const rawType = v.getUint16(off + 2, LE);
    out.push({
      type: rawType & NLA_TYPE_MASK,
      nestedFlag: (rawType & NLA_F_NESTED) !== 0,
      data: buf.subarray(off + 4, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** A decoded attribute list with typed lookups (first occurrence wins). */
export class Attrs {
  readonly list: readonly NlAttr[];
  private readonly byType = new Map<number, Uint8Array>();

  constructor(list: readonly NlAttr[]) {
    this.list = list;
    for (const a of list) if (!this.byType.has(a.type)) this.byType.set(a.type, a.data);
  }

  static parse(buf: Uint8Array, offset = 0): Attrs {
    return new Attrs(parseAttrs(buf, offset));
  }

  has(type: number): boolean {
    return this.byType.has(type);
  }
  bytes(type: number): Uint8Array | undefined {
    return this.byType.get(type);
  }
  u8(type: number): number | undefined {
    const d = this.byType.get(type);
    return d && d.length >= 1 ? d[0] : undefined;
  }
  u16(type: number): number | undefined {
    const d = this.byType.get(type);
    return d && d.length >= 2 ? view(d).getUint16(0, LE) : undefined;
  }
  u32(type: number): number | undefined {
    const d = this.byType.get(type);
    return d && d.length >= 4 ? view(d).getUint32(0, LE) : undefined;
  }
  s32(type: number): number | undefined {
    const d = this.byType.get(type);
    return d && d.length >= 4 ? view(d).getInt32(0, LE) : undefined;
  }
  /** A string attribute without its trailing NUL. */
  str(type: number): string | undefined {
    const d = this.byType.get(type);
    if (!d) return undefined;
    const nul = d.indexOf(0);
    return rawString(nul >= 0 ? d.subarray(0, nul) : d);
  }
  /** The attributes nested inside `type` (empty when absent). */
  nested(type: number, offset = 0): Attrs {
    const d = this.byType.get(type);
    return d ? Attrs.parse(d, offset) : new Attrs([]);
  }
}

// ---------------------------------------------------------------------------------------------
// Family headers

export interface IfInfoMsg {
  family: number;
  /** ARPHRD_* */
  type: number;
  index: number;
  /** IFF_* */
  flags: number;
  /** Which IFF_* bits of `flags` to change. */
  change: number;
}

export function encodeIfInfo(h: Partial<IfInfoMsg> = {}): Uint8Array {
  const b = new Uint8Array(IFINFOMSG_LEN);
  const v = view(b);
  b[0] = h.family ?? 0;
  v.setUint16(2, h.type ?? 0, LE);
  v.setInt32(4, h.index ?? 0, LE);
  v.setUint32(8, (h.flags ?? 0) >>> 0, LE);
  v.setUint32(12, (h.change ?? 0) >>> 0, LE);
  return b;
}

export function decodeIfInfo(p: Uint8Array): IfInfoMsg {
  need(p, IFINFOMSG_LEN, 'ifinfomsg');
  const v = view(p);
  return {
    family: p[0] ?? 0,
    type: v.getUint16(2, LE),
    index: v.getInt32(4, LE),
    flags: v.getUint32(8, LE),
    change: v.getUint32(12, LE),
  };
}

export interface IfAddrMsg {
  family: number;
  prefixLen: number;
  /** IFA_F_* (low 8 bits only; the full set is in IFA_FLAGS). */
  flags: number;
  scope: number;
  index: number;
}

export function encodeIfAddr(h: Partial<IfAddrMsg> = {}): Uint8Array {
  const b = new Uint8Array(IFADDRMSG_LEN);
  b[0] = h.family ?? 0;
  b[1] = h.prefixLen ?? 0;
  b[2] = (h.flags ?? 0) & 0xff;
  b[3] = h.scope ?? 0;
  view(b).setUint32(4, h.index ?? 0, LE);
  return b;
}

export function decodeIfAddr(p: Uint8Array): IfAddrMsg {
  need(p, IFADDRMSG_LEN, 'ifaddrmsg');
  return {
    family: p[0] ?? 0,
    prefixLen: p[1] ?? 0,
    flags: p[2] ?? 0,
    scope: p[3] ?? 0,
    index: view(p).getUint32(4, LE),
  };
}

export interface RtMsg {
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
}

export function encodeRtMsg(h: Partial<RtMsg> = {}): Uint8Array {
  const b = new Uint8Array(RTMSG_LEN);
  b[0] = h.family ?? 0;
  b[1] = h.dstLen ?? 0;
  b[2] = h.srcLen ?? 0;
  b[3] = h.tos ?? 0;
  b[4] = h.table ?? 0;
  b[5] = h.protocol ?? 0;
  b[6] = h.scope ?? 0;
  b[7] = h.type ?? 0;
  view(b).setUint32(8, (h.flags ?? 0) >>> 0, LE);
  return b;
}

export function decodeRtMsg(p: Uint8Array): RtMsg {
  need(p, RTMSG_LEN, 'rtmsg');
  return {
    family: p[0] ?? 0,
    dstLen: p[1] ?? 0,
    srcLen: p[2] ?? 0,
    tos: p[3] ?? 0,
    table: p[4] ?? 0,
    protocol: p[5] ?? 0,
    scope: p[6] ?? 0,
    type: p[7] ?? 0,
    flags: view(p).getUint32(8, LE),
  };
}

export interface NdMsg {
  family: number;
  index: number;
  /** NUD_* */
  state: number;
  /** NTF_* */
  flags: number;
  /** RTN_* */
  type: number;
}

export function encodeNdMsg(h: Partial<NdMsg> = {}): Uint8Array {
  const b = new Uint8Array(NDMSG_LEN);
  const v = view(b);
  b[0] = h.family ?? 0;
  v.setInt32(4, h.index ?? 0, LE);
  v.setUint16(8, h.state ?? 0, LE);
  b[10] = h.flags ?? 0;
  b[11] = h.type ?? 0;
  return b;
}

export function decodeNdMsg(p: Uint8Array): NdMsg {
  need(p, NDMSG_LEN, 'ndmsg');
  const v = view(p);
  return {
    family: p[0] ?? 0,
    index: v.getInt32(4, LE),
    state: v.getUint16(8, LE),
    flags: p[10] ?? 0,
    type: p[11] ?? 0,
  };
}

function need(p: Uint8Array, len: number, what: string): void {
  if (p.length < len) throw new Error(`netlink message too short for ${what}: ${p.length} < ${len} bytes`);
}

// ---------------------------------------------------------------------------------------------
// NLMSG_ERROR

export interface NlErrorInfo {
  /** Positive errno; 0 for a plain acknowledgement. */
  errno: number;
  /** The request's header as echoed back. */
  request: { type: number; flags: number; seq: number };
  /** NLMSGERR_ATTR_MSG: the kernel's explanation, when it gave one. */
  extack?: string;
  /** NLMSGERR_ATTR_OFFS: byte offset of the offending attribute in the request. */
  badOffset?: number;
}

/** Reads an NLMSG_ERROR payload: int error, the request's nlmsghdr (+ body unless capped), TLVs. */
export function decodeError(m: NlMessage): NlErrorInfo {
  const p = m.payload;
  need(p, 4 + NLMSG_HDRLEN, 'nlmsgerr');
  const v = view(p);
  const err = v.getInt32(0, LE);
  const reqLen = v.getUint32(4, LE);
  const info: NlErrorInfo = {
    errno: err === 0 ? 0 : -err,
    request: { type: v.getUint16(8, LE), flags: v.getUint16(10, LE), seq: v.getUint32(12, LE) },
  };
  if (m.flags & NLM_F_ACK_TLVS) {
    const tlvAt = 4 + (m.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(reqLen));
    const tlvs = Attrs.parse(p, tlvAt);
    const msg = tlvs.str(NLMSGERR_ATTR_MSG);
    if (msg) info.extack = msg;
    const offs = tlvs.u32(NLMSGERR_ATTR_OFFS);
    if (offs !== undefined) info.badOffset = offs;
  }
  return info;
}

/** Builds an NLMSG_ERROR payload (for the fake socket and tests): capped, with optional text. */
export function encodeErrorPayload(errno: number, request: NlMessage, extack?: string): Uint8Array {
  const head = new Uint8Array(4 + NLMSG_HDRLEN);
  const v = view(head);
  v.setInt32(0, -errno, LE);
  v.setUint32(4, NLMSG_HDRLEN + request.payload.length, LE);
  v.setUint16(8, request.type, LE);
  v.setUint16(10, request.flags, LE);
  v.setUint32(12, request.seq, LE);
  v.setUint32(16, request.pid, LE);
  if (extack === undefined) return head;
  const tlvs = encodeAttrs([attr.str(NLMSGERR_ATTR_MSG, extack)]);
  const out = new Uint8Array(head.length + tlvs.length);
  out.set(head);
  out.set(tlvs, head.length);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Requests

/** A request before framing: the socket adds NLM_F_REQUEST (and NLM_F_ACK), seq and pid. */
export interface Request {
  type: number;
  /** Operation flags: NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_DUMP, ... */
  flags: number;
  /** The family header (ifinfomsg, ifaddrmsg, rtmsg or ndmsg). */
  header: Uint8Array;
  attrs?: readonly AttrSpec[];
}
