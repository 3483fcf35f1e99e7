/**
 * Which sysctls tuning may write, decided in three steps:
 *
 * 1. Form (pure): the reference turns every `.` of a key into `/`, then replaces the first
 *    `IFNAME` with CNI_IFNAME (so `net.ipv4.conf.IFNAME.rp_filter` reaches `eth0.100` too), and
 *    cleans the path; the result must lie under /proc/sys/net. Here empty parts collapse as
 *    they do there, and a part that is `..` or holds a control character is refused outright.
 * 2. The operator's allow-list, /etc/cni/tuning/allowlist.conf (the reference's file): one
 *    regular expression per line matched against the key as written; no file, no restriction.
 * 3. The kernel (inside the container's namespace): /proc/sys/net there shows only what that
 *    namespace has, and a host-wide setting is missing or read-only there (net.core.rmem_max,
 *    nf_conntrack_max, ...). So a key must name a file that exists and is writable there. In
 *    the initial namespace that proves nothing; tuning refuses to write sysctls there.
 */
import { readFileBounded } from '../../lib/sys/safe-fs';
import { CniError, ConfigError, ErrorCode } from '../../lib/cni/errors';
import type { SysctlFs, SysctlKind } from '../../lib/net/sysctl';

export interface SysctlKey {
  /** Relative to /proc/sys, `/`-separated: `net/ipv4/conf/eth0/rp_filter`. */
  readonly rel: string;
  readonly path: string;
}

const PROC_SYS = '/proc/sys';

/** Why a `/`-split path is not a net sysctl, or undefined when it is one. */
function refusal(parts: readonly string[]): string | undefined {
  if (parts.some((p) => p === '.' || p === '..')) return 'a path part is "." or ".."';
  // eslint-disable-next-line no-control-regex
  if (parts.some((p) => /[\x00-\x1f\x7f]/.test(p))) return 'control characters are not allowed';
  if (parts[0] !== 'net' || parts.length < 2) return 'only sysctls under net. (/proc/sys/net) can be set';
  return undefined;
}

/** Resolves a configured key (dot or slash separated) the reference's way, or throws ConfigError. */
export function parseSysctlKey(raw: string, ifName: string): SysctlKey {
  const parts = raw
    .replaceAll('.', '/')
    .replace('IFNAME', ifName)
    .split('/')
    .filter((p) => p !== '');
  const why = refusal(parts);
  if (why) throw new ConfigError(`invalid net sysctl key: ${JSON.stringify(raw)}`, why);
  const rel = parts.join('/');
  return { rel, path: `${PROC_SYS}/${rel}` };
}

/** A key as stored in the state file (already resolved), checked again before it is written back. */
export function parseStoredKey(rel: string): SysctlKey | undefined {
  const parts = rel.split('/');
  return parts.includes('') || refusal(parts) ? undefined : { rel, path: `${PROC_SYS}/${rel}` };
}

// -----------------------------------------------------------------------------------------------
// The allow-list

export const DEFAULT_ALLOWLIST = '/etc/cni/tuning/allowlist.conf';

/** The allow-list's patterns, or undefined when the file does not exist (everything allowed). */
export function readAllowlist(file: string): RegExp[] | undefined {
  let text: string;
  try {
    text = readFileBounded(file, 1024 * 1024).toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CniError(ErrorCode.IOFailure, `failed to read the sysctl allow-list ${file}`, (e as Error).message);
  }
  const patterns: RegExp[] = [];
  text.split('\n').forEach((line, n) => {
    const p = line.trim();
    if (p === '') return;
    try {
      patterns.push(new RegExp(p));
    } catch (e) {
      throw new CniError(ErrorCode.Internal, `invalid pattern on line ${n + 1} of ${file}`, (e as Error).message);
    }
  });
  return patterns;
}

/** Throws ConfigError for the first key no pattern matches (a search, like Go's MatchString). */
export function checkAllowlist(rawKeys: readonly string[], patterns: readonly RegExp[] | undefined): void {
  if (!patterns) return;
  for (const raw of rawKeys) {
    if (patterns.some((p) => p.test(raw))) continue;
    throw new ConfigError(
      `Sysctl ${raw} is not allowed. Only the following sysctls are allowed: [${patterns.map((p) => p.source).join(' ')}]`,
    );
  }
}

// -----------------------------------------------------------------------------------------------
// The kernel's view, through the Kernel seam's SysctlFs (unit tests give a map; the plugin gives
// /proc/sys as seen from inside the container's namespace).

/** A host-wide net sysctl that only the initial namespace can change: writable here means we are there. */
const INIT_ONLY_PROBE = `${PROC_SYS}/net/core/wmem_max`;

/**
 * Checks that every key names a per-namespace sysctl of the container (see the file comment);
 * ConfigError for the first that does not.
 */
export function checkNamespaced(fs: SysctlFs, keys: readonly SysctlKey[]): void {
  if (keys.length === 0) return;
  if (fs.kind(INIT_ONLY_PROBE) === 'writable')
    throw new ConfigError(
      'refusing to set sysctls: the container network namespace is the initial (host) namespace',
      `${INIT_ONLY_PROBE} is writable there`,
    );
  for (const k of keys) {
    const kind = fs.kind(k.path);
    if (kind === 'writable') continue;
    const why: Record<Exclude<SysctlKind, 'writable'>, string> = {
      missing: 'no such sysctl in the container network namespace',
      directory: 'it names a directory, not a sysctl',
      readonly: 'it is not per network namespace (read-only in the container network namespace)',
    };
    throw new ConfigError(`cannot set sysctl ${k.path}: ${why[kind]}`);
  }
}

/** Sysctl values compare equal when their words do (the kernel separates them with tabs). */
export const sameSysctlValue = (a: string, b: string): boolean =>
  a.trim().split(/\s+/).join(' ') === b.trim().split(/\s+/).join(' ');
