/**
 * /proc/sys access for the namespace this process runs in (the plugin runs in the runtime's
 * "host" namespace). Values inside a container namespace must be set from a process in that
 * namespace instead (see the container-side exec in lib/net).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isValidLinkName } from '../cni/names';

/** net/ipv4/conf/<if>/route_localnet style key → /proc/sys path; the interface part is checked. */
export function sysctlPath(key: string): string {
  const parts = key.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new Error(`invalid sysctl key ${JSON.stringify(key)}`);
  for (const p of parts) if (!isValidLinkName(p) && !/^[\w.-]+$/.test(p)) throw new Error(`invalid sysctl key ${JSON.stringify(key)}`);
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
