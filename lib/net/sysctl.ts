/**
 * /proc/sys access for the namespace this process runs in (the plugin runs in the runtime's
 * "host" namespace). Values inside a container namespace must be set from a process in that
 * namespace instead (see the container-side exec in lib/net).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isValidLinkName } from '../cni/names';
import { defaultRunner } from '../exec/real';

/** net/ipv4/conf/<if>/route_localnet style key → /proc/sys path; the interface part is checked. */
export function sysctlPath(key: string): string {
  const parts = key.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..'))
    throw new Error(`invalid sysctl key ${JSON.stringify(key)}`);
  for (const p of parts)
    if (!isValidLinkName(p) && !/^[\w.-]+$/.test(p)) throw new Error(`invalid sysctl key ${JSON.stringify(key)}`);
  return `/proc/sys/${key}`;
}

export async function readSysctl(key: string): Promise<string> {
  return (await readFile(sysctlPath(key), 'utf8')).trim();
}

/** Writes only when the value differs (a write can be slow and may be denied when unchanged). */
export async function ensureSysctl(key: string, value: string): Promise<void> {
  const path = sysctlPath(key);
  let current: string | undefined;
  try {
    current = (await readFile(path, 'utf8')).trim();
  } catch {
    current = undefined;
  }
  if (current === value) return;
  await writeFile(path, value);
}

/**
 * Writes sysctls inside another network namespace in one exec (`nsenter … sysctl -w`): /proc/sys/net
 * shows the namespace of the process that opens it, so this process cannot write them itself.
 * Keys that do not exist (e.g. IPv6 keys on a kernel booted with ipv6.disable=1) are skipped.
 */
export async function setSysctlsIn(
  netns: string,
  values: ReadonlyArray<readonly [key: string, value: string]>,
): Promise<void> {
  if (values.length === 0) return;
  for (const [key] of values) sysctlPath(key);
  await defaultRunner().run({
    tool: 'nsenter',
    argv: [`--net=${netns}`, '--', 'sysctl', '-q', '-e', '-w', ...values.map(([k, v]) => `${k}=${v}`)],
  });
}
