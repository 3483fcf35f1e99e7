/**
 * IP and MAC text ↔ the raw bytes netlink carries. Strict parsing (four-part dotted IPv4, no
 * zone ids), IPv6 printed in RFC 5952 form so it reads like iproute2's output.
 */
import { formatIPBytes, parseIPv4, parseIPv6 } from '../addr/text';

import type { Family } from '../addr/ip';

export interface IpBytes {
  family: Family;
  bytes: Uint8Array;
}

export interface Prefix extends IpBytes {
  /** Prefix length in bits. */
  len: number;
}

/** Parses an IPv4 or IPv6 address; throws on anything else. */
export function parseIp(text: string): IpBytes {
  const v4 = parseIPv4(text);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(text);
  if (v6) return { family: 6, bytes: v6 };
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
  return formatIPBytes(bytes);
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
