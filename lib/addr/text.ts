/**
 * IP address text ↔ bytes, strict as Go's net.ParseIP: dotted-quad IPv4 without leading zeros,
 * IPv6 with at most one `::` and an optional dotted-quad tail, no zone. IPv6 is written in
 * RFC 5952 form (lower case, the first longest run of two or more zero groups as `::`).
 * Written here rather than taken from a library: it is the first code every plugin call runs,
 * and loading ipaddr.js cost each process ~0.6 ms.
 */

const V4 = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
const GROUP = /^[0-9a-fA-F]{1,4}$/;

/** The 4 bytes of a dotted-quad IPv4 address, or undefined. */
export function parseIPv4(text: string): Uint8Array | undefined {
  const m = V4.exec(text);
  if (!m) return undefined;
  const bytes = m.slice(1, 5).map(Number);
  return bytes.every((b) => b <= 255) ? Uint8Array.from(bytes) : undefined;
}

/** The 16 bytes of an IPv6 address, or undefined. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (!text.includes(':') || text.includes('%')) return undefined;
  let s = text;
  let v4Tail: Uint8Array | undefined;
  if (s.includes('.')) {
    const at = s.lastIndexOf(':');
    v4Tail = parseIPv4(s.slice(at + 1));
    if (!v4Tail) return undefined;
    s = `${s.slice(0, at + 1)}0:0`; // placeholder groups, overwritten below
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!GROUP.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groupsOf(halves[0] ?? '');
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  if (!head || !tail) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    if (head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    if (head.length !== 8) return undefined;
    groups = head;
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  if (v4Tail) bytes.set(v4Tail, 12);
  return bytes;
}

/** Dotted quad for 4 bytes, RFC 5952 for 16. */
export function formatIPBytes(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new Error(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}
