/**
 * Names as the kernel and the reference see them: bytes. A runtime may pass a CNI_IFNAME that is
 * not valid UTF-8 (Linux allows any byte but '/', ':', whitespace and NUL in a link name), and
 * the reference, whose strings are bytes, writes it to disk and to the kernel as given. Our
 * strings are UTF-16, and decoding such bytes the usual way turns each bad byte into U+FFFD: the
 * lease file would then name another interface, and the reference's DEL could not release it.
 *
 * So bytes that are not UTF-8 are decoded as the lone surrogates U+DC80..U+DCFF (the scheme
 * Python calls "surrogateescape"; no valid UTF-8 text decodes to them), and `rawBytes` turns
 * them back into the same bytes. Every place a name leaves the process as bytes (files, netlink,
 * hashes, firewall input) encodes with `rawBytes`; every place one comes in decodes with
 * `rawString`. For valid UTF-8 both are the ordinary conversions.
 */

const ESCAPE_BASE = 0xdc00;
const SURROGATE = /[\ud800-\udfff]/;

/** Bytes → string; bytes that are not UTF-8 become U+DC80..U+DCFF, one per byte. */
export function rawString(bytes: Uint8Array): string {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(b)) return b.toString('utf8');
  let out = '';
  let i = 0;
  while (i < b.length) {
    const n = utf8SequenceAt(b, i);
    if (n > 0) {
      out += b.toString('utf8', i, i + n);
      i += n;
    } else {
      out += String.fromCharCode(ESCAPE_BASE + (b[i] as number));
      i++;
    }
  }
  return out;
}

/** String → bytes; the inverse of rawString (an escaped byte is written back as itself). */
export function rawBytes(s: string): Buffer {
  if (!SURROGATE.test(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++; // a proper pair: ordinary UTF-8
        continue;
      }
    }
    if (c >= 0xdc80 && c <= 0xdcff) {
      parts.push(Buffer.from(s.slice(start, i), 'utf8'), Buffer.of(c - ESCAPE_BASE));
      start = i + 1;
    }
  }
  parts.push(Buffer.from(s.slice(start), 'utf8'));
  return Buffer.concat(parts);
}

/** True when `s` holds bytes that are not UTF-8 (it cannot be written as UTF-8 text as it is). */
export const hasRawBytes = (s: string): boolean => SURROGATE.test(s) && !Buffer.from(s, 'utf8').equals(rawBytes(s));

/** The byte length of `s` as rawBytes writes it. */
export const rawLength = (s: string): number => (SURROGATE.test(s) ? rawBytes(s).length : Buffer.byteLength(s));

/** `s` cut to at most `max` bytes (as rawBytes writes it), the way Go slices a string: a split character stays split. */
export function truncateBytes(s: string, max: number): string {
  const b = rawBytes(s);
  return b.length <= max ? s : rawString(b.subarray(0, max));
}

/** A path for node:fs: the string itself when it is UTF-8, else its bytes (fs takes both). */
export const rawPath = (s: string): string | Buffer => (hasRawBytes(s) ? rawBytes(s) : s);

/** Go's rendering of bytes as a JSON string: each byte that is not UTF-8 becomes U+FFFD. */
export function goJsonText(s: string): string {
  if (!SURROGATE.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    if (pair) {
      out += s.slice(i, i + 2);
      i++;
    } else out += c >= 0xd800 && c <= 0xdfff ? '\ufffd' : s[i];
  }
  return out;
}

function isUtf8(b: Buffer): boolean {
  const check = (Buffer as unknown as { isUtf8?: (b: Uint8Array) => boolean }).isUtf8;
  if (check) return check(b);
  for (let i = 0; i < b.length;) {
    const n = utf8SequenceAt(b, i);
    if (n === 0) return false;
    i += n;
  }
  return true;
}

/** Length of the well-formed UTF-8 sequence at `i` (1..4), or 0 when the byte there starts none. */
function utf8SequenceAt(b: Uint8Array, i: number): number {
  const c = b[i] as number;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => {
    const x = b[i + k];
    return x !== undefined && x >= lo && x <= hi;
  };
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0; // no UTF-16 surrogates
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}
