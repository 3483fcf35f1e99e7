/**
 * IP and MAC text ↔ the raw bytes netlink carries. Strict parsing (four-part dotted IPv4, no
 * zone ids), IPv6 printed in RFC 5952 form so it reads like iproute2's output.
 */
import ipaddr from 'ipaddr.js';

export type IpFamily = 4 | 6;

export interface IpBytes {
  family: IpFamily;
  bytes: Uint8Array;
}

export interface Prefix extends IpBytes {
  /** Prefix length in bits. */
  len: number;
}

/** Parses an IPv4 or IPv6 address; throws on anything else. */
export function parseIp(text: string): IpBytes {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    return { family: 4, bytes: Uint8Array.from(ipaddr.IPv4.parse(text).toByteArray()) };
  }
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) {
    return { family: 6, bytes: Uint8Array.from(ipaddr.IPv6.parse(text).toByteArray()) };
  }
  throw new Error(`not an IP address: ${JSON.stringify(text)}`);
}

/** Parses `addr/len` (host bits kept); `default` and a bare address are refused here. */
export function parsePrefix(text: string): Prefix {
  const slash = text.indexOf('/');
  const lenText = text.slice(slash + 1);
  if (slash < 0 || !/^\d{1,3}$/.test(lenText)) throw new Error(`not a CIDR: ${JSON.stringify(text)}`);
  const ip = parseIp(text.slice(0, slash));
  const len = Number(lenText);
  if (len > ip.bytes.length * 8) throw new Error(`prefix length out of range: ${JSON.stringify(text)}`);
  return { ...ip, len };
}

/** Text form of 4 or 16 address bytes. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length === 16) return new ipaddr.IPv6(Array.from(toU16(bytes))).toRFC5952String();
  throw new Error(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
}

function toU16(bytes: Uint8Array): number[] {
  const parts: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) parts.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  return parts;
}

/** The IPv4 broadcast address of a prefix (all host bits set). */
export function broadcastOf(p: Prefix): Uint8Array {
  const out = Uint8Array.from(p.bytes);
  for (let bit = p.len; bit < out.length * 8; bit++) {
    const i = bit >> 3;
    out[i] = (out[i] ?? 0) | (0x80 >> (bit & 7));
  }
  return out;
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** `aa:bb:cc:dd:ee:ff` → 6 bytes; throws on anything else. */
export function parseMac(text: string): Uint8Array {
  if (!MAC_RE.test(text)) throw new Error(`not a MAC address: ${JSON.stringify(text)}`);
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
}

/** Hardware address bytes as lowercase colon-separated hex (any length). */
export const formatMac = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
