/**
 * Everything tscni writes into a firewall program's input (`nft -f`, `iptables-restore`) goes
 * through this module: every renderer builds its names, comments and addresses with these
 * functions and with nothing else. A value either has a form the program reads back as exactly
 * that value, or it is refused with a CniError naming it — never pasted in as it came. Values
 * derived from what a caller chose (the interface name, above all: Linux allows `"`, `;`, `#`,
 * `{` in one) go into comments through `ownerTag`, which hashes what it cannot write plainly.
 *
 * The programs' rules, as measured with nft 1.0.6 and iptables 1.8.9 (see text.test.ts):
 *  - nft: a quoted string takes any byte but `"` (there is no escape for it) and NUL; a comment
 *    at most 128 bytes; chain, table and set names are bare words (`[A-Za-z_.][A-Za-z0-9_./-]*`,
 *    a quoted name is a syntax error), so a name outside that alphabet needs nft's JSON input
 *    (the MAC spoof check, whose chain names contain the interface name, uses it).
 *  - iptables-restore: a line is split at blanks, `"` groups and `\` escapes the next character;
 *    a newline ends the rule. Chain names are at most 28 bytes; interface names at most 15.
 */
import { CniError, ErrorCode } from '../cni/errors';
import { formatCIDR, formatIP, parseCIDR, parseIP } from '../addr/ip';
import { sha256hex } from '../sys/hash';
import { rawLength, truncateBytes } from '../sys/raw-text';

/** A value that cannot be written into a firewall program's input as it is. */
export class UnsafeTextError extends CniError {
  constructor(what: string, value: string, why: string) {
    super(ErrorCode.InvalidNetworkConfig, `cannot write ${what} ${JSON.stringify(value)} into firewall rules`, why);
    this.name = 'UnsafeTextError';
  }
}

/** nftables' limit on a comment (NFT_USERDATA_MAXLEN is 256; nft refuses more than 128). */
export const NFT_COMMENT_MAX = 128;
/** iptables' comment match keeps 255 bytes (XT_MAX_COMMENT_LEN 256, NUL included). */
export const IPT_COMMENT_MAX = 255;

// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Printable ASCII without the quote and backslash: safe in either program's quoted strings. */
const PLAIN = /^[\u0020-\u007e]*$/;
const NO_QUOTES = /^[^"\\]*$/;

// ---- nftables ----

/** A double-quoted nft string (element of an ifname set, an interface match). */
export function nftString(s: string, what: string): string {
  if (!PLAIN.test(s) || !NO_QUOTES.test(s)) throw new UnsafeTextError(what, s, 'only printable ASCII without " or \\');
  return `"${s}"`;
}

/** A quoted nft comment; at most NFT_COMMENT_MAX bytes. */
export function nftComment(s: string, what = 'comment'): string {
  if (rawLength(s) > NFT_COMMENT_MAX) throw new UnsafeTextError(what, s, `longer than ${NFT_COMMENT_MAX} bytes`);
  return `comment ${nftString(s, what)}`;
}

const NFT_IDENT = /^[A-Za-z_.][A-Za-z0-9_./-]*$/;

/** A bare nft identifier: a table, chain, set or map name. */
export function nftIdent(s: string, what: string): string {
  if (!NFT_IDENT.test(s) || s.length > 256)
    throw new UnsafeTextError(what, s, 'an nft name is [A-Za-z_.][A-Za-z0-9_./-]*');
  return s;
}

/**
 * A comment as the reference's nftables code writes it from names it does not check: `"` dropped,
 * cut to 128 bytes (where a character may be split, as Go slices bytes). What is left may hold
 * any other byte; the runner writes it as bytes (lib/sys/raw-text.ts).
 */
export const looseCommentText = (s: string): string =>
  // eslint-disable-next-line no-control-regex -- NUL cannot be written at all
  truncateBytes(s.replace(/["\u0000]/g, ''), NFT_COMMENT_MAX);

/** `comment "<looseCommentText(s)>"`. */
export const nftLooseComment = (s: string): string => `comment "${looseCommentText(s)}"`;

// ---- iptables-restore ----

const IPT_NAME = /^[A-Za-z0-9_.@+][A-Za-z0-9_.@+-]*$/;

/** A chain name (at most 28 bytes; not option-like). */
export function iptChain(s: string, what = 'chain name'): string {
  if (!IPT_NAME.test(s) || s.length > 28)
    throw new UnsafeTextError(what, s, 'a chain name is [A-Za-z0-9_.@+-], at most 28');
  return s;
}

export const isIptIface = (s: string): boolean => IPT_NAME.test(s) && s.length <= 15;

/** An interface name for -i / -o (at most 15 bytes). */
export function iptIface(s: string, what = 'interface name'): string {
  if (!isIptIface(s)) throw new UnsafeTextError(what, s, 'an interface name in a rule is [A-Za-z0-9_.@+-], at most 15');
  return s;
}

/** A double-quoted iptables-restore word: `"` and `\` escaped; no control characters. */
export function iptQuoted(s: string, what: string): string {
  if (CONTROL.test(s)) throw new UnsafeTextError(what, s, 'control characters cannot be written');
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** `-m comment --comment "<s>"`. */
export function iptComment(s: string, what = 'comment'): string {
  if (rawLength(s) > IPT_COMMENT_MAX) throw new UnsafeTextError(what, s, `longer than ${IPT_COMMENT_MAX} bytes`);
  return `-m comment --comment ${iptQuoted(s, what)}`;
}

const IPT_BARE = /^[A-Za-z0-9_.:/,!=+@%^-]+$/;

/** One argument (one argv element in the reference, e.g. of portmap's conditionsV4): bare when it can be, else quoted. */
export function iptArg(s: string, what = 'argument'): string {
  return IPT_BARE.test(s) ? s : iptQuoted(s, what);
}

// ---- both ----

/** An address or CIDR in canonical form (anything else is refused, not rewritten). */
export function addrText(s: string, what = 'address'): string {
  const ip = parseIP(s);
  if (ip && formatIP(ip) === s) return s;
  const c = parseCIDR(s);
  if (c && formatCIDR(c.addr, c.prefix) === s) return s;
  throw new UnsafeTextError(what, s, 'not an address in canonical form');
}

/** A port number (1-65535). */
export function portText(n: number, what = 'port'): string {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UnsafeTextError(what, String(n), 'not a port number');
  return String(n);
}

/** A transport protocol name. */
export function protocolText(p: string): string {
  if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') throw new UnsafeTextError('protocol', p, 'tcp, udp or sctp');
  return p;
}

/**
 * The owner comment tscni's own tables carry per attachment: `n=<net>;c=<id>;i=<ifname>` when
 * that is plain printable ASCII of at most 128 bytes, else `h=` and a hash of it. Network names
 * and container IDs are checked at the protocol edge; the interface name may be anything Linux
 * allows, which is why this exists.
 */
export function ownerTag(net: string, id: string, ifName: string): string {
  const plain = `n=${net};c=${id};i=${ifName}`;
  return plain.length <= NFT_COMMENT_MAX && PLAIN.test(plain) && NO_QUOTES.test(plain)
    ? plain
    : `h=${sha256hex(plain).slice(0, 40)}`;
}

/** What `ownerTag` wrote, back as its parts; undefined for a hashed one. */
export function parseOwnerTag(comment: string): { net: string; cid: string; ifName: string } | undefined {
  const m = /^n=([^;]*);c=([^;]*);i=(.*)$/.exec(comment);
  return m ? { net: m[1] ?? '', cid: m[2] ?? '', ifName: m[3] ?? '' } : undefined;
}
