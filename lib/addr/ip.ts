/**
 * IP addresses as (family, bigint) pairs: cheap arithmetic for range iteration, and the exact
 * text form Go's net.IP.String() produces, because lease file names must match the reference's
 * byte for byte (IPv6 compressed per RFC 5952; IPv4-mapped IPv6 treated as IPv4, as Go does).
 */
import { formatIPBytes, parseIPv4, parseIPv6 } from './text';

/** An address family, spelled one way everywhere: 4 or 6. */
export type Family = 4 | 6;
export const FAMILIES: readonly Family[] = [4, 6];

export interface Addr {
  readonly family: Family;
  readonly value: bigint;
}

export const bitsOf = (f: Family): number => (f === 4 ? 32 : 128);

/** The family of an address or CIDR as written, without parsing it (IPv6 text always has a colon). */
export const familyOfText = (text: string): Family => (text.includes(':') ? 6 : 4);

/** Parses an IP the way Go's net.ParseIP accepts it; undefined when it is not one. */
export function parseIP(text: string): Addr | undefined {
  const v4 = parseIPv4(text);
  if (v4) return { family: 4, value: bytesToBig(v4) };
  const v6 = parseIPv6(text);
  if (!v6) return undefined;
  if (isV4Mapped(v6)) return { family: 4, value: bytesToBig(v6.subarray(12)) };
  return { family: 6, value: bytesToBig(v6) };
}

/** ::ffff:a.b.c.d */
const isV4Mapped = (b: Uint8Array): boolean =>
  b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;

export interface Cidr {
  /** The address as written (host bits kept). */
  readonly addr: Addr;
  readonly prefix: number;
}

/** Parses `addr/len` strictly (Go net.ParseCIDR); undefined when invalid. */
export function parseCIDR(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIP(text.slice(0, slash));
  const len = text.slice(slash + 1);
  if (!addr || !/^\d{1,3}$/.test(len)) return undefined;
  const prefix = Number(len);
  // An IPv4-mapped IPv6 CIDR keeps its IPv6 prefix length in Go; we only accept plain forms.
  if (prefix > bitsOf(addr.family) || (addr.family === 4 && text.slice(0, slash).includes(':'))) return undefined;
  return { addr, prefix };
}

export const hostMask = (f: Family, prefix: number): bigint => (1n << BigInt(bitsOf(f) - prefix)) - 1n;
export const networkOf = (a: Addr, prefix: number): Addr => ({
  family: a.family,
  value: a.value & ~hostMask(a.family, prefix),
});

function bytesToBig(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** Go's net.IP.String(). */
export function formatIP(a: Addr): string {
  if (a.family === 4) {
    const v = Number(a.value);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Number((a.value >> BigInt((15 - i) * 8)) & 0xffn);
  return formatIPBytes(bytes);
}

export const formatCIDR = (a: Addr, prefix: number): string => `${formatIP(a)}/${prefix}`;
export const sameAddr = (a: Addr, b: Addr): boolean => a.family === b.family && a.value === b.value;
