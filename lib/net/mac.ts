/** MAC addresses as the plugins write them: lower-case, colon-separated. */
import { randomBytes } from '../sys/hash';

/** A random locally administered unicast MAC (what the kernel would pick for a veth). */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

const MAC_RE = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;
export function normalizeMac(mac: string): string | undefined {
  return MAC_RE.test(mac) ? mac.toLowerCase() : undefined;
}
