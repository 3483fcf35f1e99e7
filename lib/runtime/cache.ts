/** libcni's result cache: `<cacheDir>/results/<net>-<containerID>-<ifname>` in the cniCacheV1 format. */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFileBounded } from '../sys/safe-fs';
import { MAX_CONFIG_FILE } from './config';
import { join } from 'node:path';
import { parseJson } from '../cni/json';

export interface CacheEntry {
  readonly kind: 'cniCacheV1';
  readonly containerId: string;
  /** base64 of the network configuration bytes. */
  readonly config: string;
  readonly ifName: string;
  readonly networkName: string;
  readonly netns?: string;
  readonly cniArgs?: Array<[string, string]>;
  readonly capabilityArgs?: Record<string, unknown>;
  readonly result?: unknown;
}

export const cachePath = (cacheDir: string, net: string, id: string, ifName: string): string =>
  join(cacheDir, 'results', `${net}-${id}-${ifName}`);

export function writeCache(cacheDir: string, e: CacheEntry): void {
  mkdirSync(join(cacheDir, 'results'), { recursive: true, mode: 0o700 });
  writeFileSync(cachePath(cacheDir, e.networkName, e.containerId, e.ifName), JSON.stringify(e), { mode: 0o600 });
}

export function readCache(cacheDir: string, net: string, id: string, ifName: string): CacheEntry | undefined {
  try {
    const e = parseJson(
      readFileBounded(cachePath(cacheDir, net, id, ifName), MAX_CONFIG_FILE).toString('utf8'),
    ) as CacheEntry;
    return e.kind === 'cniCacheV1' ? e : undefined;
  } catch {
    return undefined;
  }
}

export function deleteCache(cacheDir: string, net: string, id: string, ifName: string): void {
  rmSync(cachePath(cacheDir, net, id, ifName), { force: true });
}

/** Every cached attachment of a network (for GC). */
export function cachedAttachments(cacheDir: string, net: string): CacheEntry[] {
  let files: string[] = [];
  try {
    files = readdirSync(join(cacheDir, 'results'));
  } catch {
    return [];
  }
  return files
    .filter((f) => f.startsWith(`${net}-`))
    .map((f) => {
      try {
        return parseJson(readFileBounded(join(cacheDir, 'results', f), MAX_CONFIG_FILE).toString('utf8')) as CacheEntry;
      } catch {
        return undefined;
      }
    })
    .filter((e): e is CacheEntry => !!e && e.kind === 'cniCacheV1' && e.networkName === net && !!e.ifName);
}
