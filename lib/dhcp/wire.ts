/**
 * The DHCPv4 message format (RFC 2131 §2, options RFC 2132): encoding and decoding of the
 * BOOTP header, the magic cookie and the options, with long options split and joined as RFC 3396
 * says and option overload (52) honoured. Pure: bytes in, bytes out. The npm packages looked at
 * (`dhcp`, `dhcpjs`) were not usable here; README.md (dhcp, Deliberate differences) says why.
 */

import { Opt } from './codes';

export { Opt };
export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
const MAGIC_COOKIE = 0x63825363;
const HEADER_LENGTH = 236;
/** RFC 1542 §3.2: relay agents and some servers drop BOOTP messages shorter than 300 bytes. */
const MIN_MESSAGE_LENGTH = 300;
export const BROADCAST_FLAG = 0x8000;

export const MessageType = {
  Discover: 1,
  Offer: 2,
  Request: 3,
  Decline: 4,
  Ack: 5,
  Nak: 6,
  Release: 7,
  Inform: 8,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const messageTypeName = (t: number | undefined): string =>
  Object.entries(MessageType)
    .find(([, v]) => v === t)?.[0]
    .toUpperCase() ?? `type ${t ?? 'none'}`;

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  /** Dotted quads. */
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The client hardware address (the first `hlen` bytes count). */
  chaddr: Uint8Array;
  /** Options by code, in the order they first appeared; repeated instances already joined. */
  options: Map<number, Uint8Array>;
}

export class DhcpFormatError extends Error {
  constructor(msg: string) {
    super(`malformed DHCP message: ${msg}`);
    this.name = 'DhcpFormatError';
  }
}

export function ipToBytes(ip: string): Uint8Array {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new DhcpFormatError(`not an IPv4 address: ${JSON.stringify(ip)}`);
  }
  return Uint8Array.from(parts.map(Number));
}

export const bytesToIp = (b: Uint8Array, at = 0): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
}

function appendOption(out: number[], code: number, value: Uint8Array): void {
  // RFC 3396: a value longer than 255 bytes goes out as consecutive instances of the option.
  if (value.length === 0) {
    out.push(code, 0);
    return;
  }
  for (let i = 0; i < value.length; i += 255) {
    const part = value.subarray(i, i + 255);
    out.push(code, part.length, ...part);
  }
}

export function encodeMessage(m: DhcpMessage): Uint8Array {
  const head = new Uint8Array(HEADER_LENGTH);
  const v = new DataView(head.buffer);
  head[0] = m.op;
  head[1] = m.htype;
  head[2] = m.hlen;
  head[3] = m.hops;
  v.setUint32(4, m.xid >>> 0);
  v.setUint16(8, m.secs);
  v.setUint16(10, m.flags);
  head.set(ipToBytes(m.ciaddr), 12);
  head.set(ipToBytes(m.yiaddr), 16);
  head.set(ipToBytes(m.siaddr), 20);
  head.set(ipToBytes(m.giaddr), 24);
  if (m.chaddr.length > 16) throw new DhcpFormatError('chaddr longer than 16 bytes');
  head.set(m.chaddr, 28);
  const opts: number[] = [];
  for (const [code, value] of m.options) {
    if (code === Opt.Pad || code === Opt.End || code < 0 || code > 255) continue;
    appendOption(opts, code, value);
  }
  opts.push(Opt.End);
  const length = Math.max(MIN_MESSAGE_LENGTH, HEADER_LENGTH + 4 + opts.length);
  const out = new Uint8Array(length);
  out.set(head, 0);
  new DataView(out.buffer).setUint32(HEADER_LENGTH, MAGIC_COOKIE);
  out.set(opts, HEADER_LENGTH + 4);
  return out;
}

/** Reads options from `b` into `into` (joining repeated codes); stops at End. */
function readOptions(b: Uint8Array, into: Map<number, Uint8Array>, where: string): void {
  let i = 0;
  while (i < b.length) {
    const code = b[i] as number;
    if (code === Opt.End) return;
    if (code === Opt.Pad) {
      i += 1;
      continue;
    }
    if (i + 1 >= b.length) throw new DhcpFormatError(`option ${code} in ${where} has no length`);
    const len = b[i + 1] as number;
    if (i + 2 + len > b.length) throw new DhcpFormatError(`option ${code} in ${where} runs past the end`);
    const value = b.subarray(i + 2, i + 2 + len);
    const before = into.get(code);
    into.set(code, before ? concat(before, value) : value.slice());
    i += 2 + len;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function decodeMessage(b: Uint8Array): DhcpMessage {
  if (b.length < HEADER_LENGTH + 4) throw new DhcpFormatError(`${b.length} bytes is too short`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint32(HEADER_LENGTH) !== MAGIC_COOKIE) throw new DhcpFormatError('no magic cookie');
  const hlen = b[2] as number;
  if (hlen > 16) throw new DhcpFormatError(`hardware address length ${hlen}`);
  const options = new Map<number, Uint8Array>();
  readOptions(b.subarray(HEADER_LENGTH + 4), options, 'options');
  // Option overload: the file and/or sname fields carry more options (file first, RFC 2131 §4.1).
  const overload = options.get(Opt.Overload)?.[0] ?? 0;
  if (overload & 1) readOptions(b.subarray(108, 236), options, 'file');
  if (overload & 2) readOptions(b.subarray(44, 108), options, 'sname');
  return {
    op: b[0] as number,
    htype: b[1] as number,
    hlen,
    hops: b[3] as number,
    xid: v.getUint32(4),
    secs: v.getUint16(8),
    flags: v.getUint16(10),
    ciaddr: bytesToIp(b, 12),
    yiaddr: bytesToIp(b, 16),
    siaddr: bytesToIp(b, 20),
    giaddr: bytesToIp(b, 24),
    chaddr: b.slice(28, 28 + hlen),
    options,
  };
}

// ---------------------------------------------------------------------------------------------
// Option values

export const optIp = (m: DhcpMessage, code: number): string | undefined => {
  const b = m.options.get(code);
  return b && b.length === 4 ? bytesToIp(b) : undefined;
};

export const optIps = (m: DhcpMessage, code: number): string[] => {
  const b = m.options.get(code);
  if (!b || b.length % 4 !== 0) return [];
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 4) out.push(bytesToIp(b, i));
  return out;
};

export const optU32 = (m: DhcpMessage, code: number): number | undefined => {
  const b = m.options.get(code);
  return b && b.length === 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0) : undefined;
};

export const optU8 = (m: DhcpMessage, code: number): number | undefined => {
  const b = m.options.get(code);
  return b && b.length === 1 ? b[0] : undefined;
};

/** A text option (host name, domain name, message), NULs at the end dropped as some servers add them. */
export const optText = (m: DhcpMessage, code: number): string | undefined => {
  const b = m.options.get(code);
  if (!b || b.length === 0) return undefined;
  return Buffer.from(b).toString('latin1').replace(/\0+$/, '');
};

export const messageTypeOf = (m: DhcpMessage): number | undefined => optU8(m, Opt.MessageType);

/** The prefix length of a contiguous netmask, or undefined for a non-contiguous one. */
export function maskPrefix(mask: string): number | undefined {
  const n = ipToBytes(mask).reduce((acc, x) => acc * 256 + x, 0);
  let len = 0;
  while (len < 32 && n & (2 ** (31 - len))) len++;
  const expected = len === 0 ? 0 : (2 ** 32 - 2 ** (32 - len)) >>> 0;
  return n >>> 0 === expected ? len : undefined;
}

export interface WireRoute {
  dst: string;
  prefix: number;
  gw: string;
}

/**
 * Classless static routes (option 121, RFC 3442): width, the significant octets of the
 * destination, the router. Undefined when the option is malformed (the RFC says to ignore it).
 */
export function classlessRoutes(b: Uint8Array): WireRoute[] | undefined {
  const out: WireRoute[] = [];
  let i = 0;
  while (i < b.length) {
    const width = b[i] as number;
    if (width > 32) return undefined;
    const octets = Math.ceil(width / 8);
    if (i + 1 + octets + 4 > b.length) return undefined;
    const dst = new Uint8Array(4);
    dst.set(b.subarray(i + 1, i + 1 + octets));
    // Bits past the width must be zero in a destination; clear them rather than trust the server.
    const n = new DataView(dst.buffer).getUint32(0);
    const masked = width === 0 ? 0 : (n & (2 ** 32 - 2 ** (32 - width))) >>> 0;
    out.push({ dst: bytesToIp(u32(masked)), prefix: width, gw: bytesToIp(b, i + 1 + octets) });
    i += 1 + octets + 4;
  }
  return out;
}

/** Static routes (option 33): destination/router pairs, the destination's classful mask (RFC 2132 §5.8). */
export function staticRoutes(b: Uint8Array): WireRoute[] {
  const out: WireRoute[] = [];
  for (let i = 0; i + 8 <= b.length; i += 8) {
    const first = b[i] as number;
    const prefix = first < 128 ? 8 : first < 192 ? 16 : 24;
    out.push({ dst: bytesToIp(b, i), prefix, gw: bytesToIp(b, i + 4) });
  }
  return out;
}

/**
 * The domain search list (option 119, RFC 3397): DNS names in RFC 1035 wire form whose
 * compression pointers point into the option's own data. Undefined when malformed.
 */
export function domainSearch(b: Uint8Array): string[] | undefined {
  const names: string[] = [];
  let i = 0;
  while (i < b.length) {
    const name = readName(b, i);
    if (!name) return undefined;
    names.push(name.text);
    i = name.next;
  }
  return names;
}

function readName(b: Uint8Array, start: number): { text: string; next: number } | undefined {
  const labels: string[] = [];
  let i = start;
  let next: number | undefined;
  let jumps = 0;
  for (;;) {
    if (i >= b.length) return undefined;
    const len = b[i] as number;
    if (len === 0) {
      next ??= i + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (i + 1 >= b.length || ++jumps > 64) return undefined;
      const target = ((len & 0x3f) << 8) | (b[i + 1] as number);
      next ??= i + 2;
      if (target >= b.length) return undefined;
      i = target;
      continue;
    }
    if (len > 63 || i + 1 + len > b.length) return undefined;
    labels.push(Buffer.from(b.subarray(i + 1, i + 1 + len)).toString('latin1'));
    i += 1 + len;
  }
  if (labels.length === 0) return undefined;
  return { text: labels.join('.'), next };
}
