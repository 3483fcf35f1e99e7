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

const GO_MAC_FORMS = [
  /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i,
  /^([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})$/i,
  /^([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})$/i,
];

/** A 6-byte MAC in any of the spellings Go's net.ParseMAC accepts, as `aa:bb:cc:dd:ee:ff`. */
export function parseGoMac(raw: string): string | undefined {
  for (const re of GO_MAC_FORMS) {
    const m = re.exec(raw);
    if (m) return m.slice(1).join(':').toLowerCase();
  }
  return undefined;
}
