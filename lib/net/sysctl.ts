/**
 * /proc/sys access, in this process's network namespace or inside a container's. /proc/sys/net
 * shows the namespace of the thread that opens a file there, so a container's values are
 * written with the thread switched into its namespace (lib/sys/netns.ts) — no nsenter, no
 * sysctl process. All calls are synchronous: each is one small read or write.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { isValidLinkName } from '../cni/names';
import { inNetns } from '../sys/netns';
import { rawPath } from '../sys/raw-text';

export type SysctlValues = ReadonlyArray<readonly [key: string, value: string]>;

/** net/ipv4/conf/<if>/route_localnet style key → /proc/sys path; every part is checked. */
export function sysctlPath(key: string): string {
  const parts = key.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..'))
    throw new Error(`invalid sysctl key ${JSON.stringify(key)}`);
  for (const p of parts)
    if (!isValidLinkName(p) && !/^[\w.-]+$/.test(p)) throw new Error(`invalid sysctl key ${JSON.stringify(key)}`);
  return `/proc/sys/${key}`;
}

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/** The value, or undefined when the key does not exist here. */
export function readSysctl(key: string): string | undefined {
  try {
    return readFileSync(rawPath(sysctlPath(key)), 'utf8').trim();
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** Writes only when the value differs (a write can be slow and may be denied when unchanged). */
export function ensureSysctl(key: string, value: string): void {
  if (readSysctl(key) === value) return;
  writeFileSync(rawPath(sysctlPath(key)), value);
}

/**
 * Writes sysctls inside the network namespace at `netns`. Keys that do not exist there (e.g.
 * IPv6 keys on a kernel booted with ipv6.disable=1) are skipped, as `sysctl -e` would.
 */
export function setSysctlsIn(netns: string, values: SysctlValues): void {
  if (values.length === 0) return;
  const paths = values.map(([k, v]) => [sysctlPath(k), v] as const);
  inNetns(netns, () => {
    for (const [path, value] of paths) {
      try {
        writeFileSync(rawPath(path), value); // an interface name keeps its bytes (raw-text.ts)
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw new Error(`sysctl ${path}=${value}: ${(e as Error).message}`);
      }
    }
  });
}

export type SysctlKind = 'missing' | 'directory' | 'readonly' | 'writable';

/** /proc/sys as a plugin that checks before it writes (tuning) sees it: a seam, a map in unit tests. */
export interface SysctlFs {
  kind(path: string): SysctlKind;
  /** The value without its trailing newline. */
  read(path: string): string;
  write(path: string, value: string): void;
}

/** /proc/sys of the namespace this thread is in (use it inside inNetns). */
export const procSysctlFs: SysctlFs = {
  kind(path) {
    try {
      const st = statSync(rawPath(path));
      if (st.isDirectory()) return 'directory';
      // Sysctl permissions are the table's mode, enforced for root too (no DAC override).
      return (st.mode & 0o200) !== 0 ? 'writable' : 'readonly';
    } catch (e) {
      const code = errno(e);
      if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
      throw e;
    }
  },
  read: (path) => readFileSync(rawPath(path), 'utf8').replace(/\n$/, ''),
  // r+: never create; a sysctl that is not there must fail, not become a file.
  write: (path, value) => writeFileSync(rawPath(path), value, { flag: 'r+' }),
};
