/**
 * libcni's result cache: `<cacheDir>/results/<net>-<containerID>-<ifname>` in the cniCacheV1
 * format. The cache directory is the operator's (`CNI_CACHE_DIR`); what is below it is state and
 * goes through safe-fs: a link at `results` is refused, a link at an entry is never followed (an
 * entry is written to a new file renamed into place, read only when it is a regular file).
 */
import { SafeDir } from '../sys/safe-fs';
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

const entryName = (net: string, id: string, ifName: string): string => `${net}-${id}-${ifName}`;

export const cachePath = (cacheDir: string, net: string, id: string, ifName: string): string =>
  join(cacheDir, 'results', entryName(net, id, ifName));

/** `<cacheDir>/results`, opened without following a link; undefined when it is not there (and not asked for). */
export function openResults(cacheDir: string, create = false): SafeDir | undefined {
  const top = SafeDir.open(cacheDir, create ? { create: true, mode: 0o700 } : {});
  if (!top) return undefined;
  try {
    return top.sub('results', { create, mode: 0o700 });
  } finally {
    top.close();
  }
}

function withResults<T>(cacheDir: string, create: boolean, fn: (d: SafeDir) => T): T | undefined {
  const d = openResults(cacheDir, create);
  if (!d) return undefined;
  try {
    return fn(d);
  } finally {
    d.close();
  }
}

/** The entry `name` of an open results directory, when it is a cniCacheV1 entry. */
export function readEntry(d: SafeDir, name: string): CacheEntry | undefined {
  const bytes = d.read(name, MAX_CONFIG_FILE);
  if (!bytes) return undefined;
  const e = parseJson(bytes.toString('utf8')) as CacheEntry;
  return e && typeof e === 'object' && e.kind === 'cniCacheV1' ? e : undefined;
}

export function writeCache(cacheDir: string, e: CacheEntry): void {
  withResults(cacheDir, true, (d) =>
    d.write(entryName(e.networkName, e.containerId, e.ifName), JSON.stringify(e), 0o600),
  );
}

export function readCache(cacheDir: string, net: string, id: string, ifName: string): CacheEntry | undefined {
  try {
    return withResults(cacheDir, false, (d) => readEntry(d, entryName(net, id, ifName)));
  } catch {
    return undefined;
  }
}

export function deleteCache(cacheDir: string, net: string, id: string, ifName: string): void {
  withResults(cacheDir, false, (d) => d.unlink(entryName(net, id, ifName)));
}

/** Every cached attachment of a network (for GC). */
export function cachedAttachments(cacheDir: string, net: string): CacheEntry[] {
  try {
    return (
      withResults(cacheDir, false, (d) =>
        d
          .list()
          .filter((f) => f.startsWith(`${net}-`))
          .map((f) => {
            try {
              return readEntry(d, f);
            } catch {
              return undefined;
            }
          })
          .filter((e): e is CacheEntry => !!e && e.networkName === net && !!e.ifName),
      ) ?? []
    );
  } catch {
    return [];
  }
}
