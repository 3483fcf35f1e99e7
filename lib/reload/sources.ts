/**
 * What `tscni reload` reads to know which attachments exist: libcni's result cache
 * (`<cacheDir>/results/<net>-<id>-<ifname>`, kind cniCacheV1: the network's config bytes, the
 * runtime's CNI_ARGS and capability args, the final result) and the network configs of
 * NETCONFPATH. Every cache file is input like any other: its names are validated as the
 * dispatcher validates CNI_* variables, its file name must match its content, its config must
 * parse and name its network, and its result is validated later by the plugins that use it.
 */
import { readFileBounded, type SafeDir } from '../sys/safe-fs';
import { openResults } from '../runtime/cache';
import { isAbsolute, join } from 'node:path';
import { validateContainerId, validateIfName, validateNetworkName } from '../cni/names';
import type { Attachment } from '../cni/invocation';
import { listConfFiles, loadNetwork, MAX_CONFIG_FILE, parseConfList, type NetworkConfigList } from '../runtime/config';
import { parseJson } from '../cni/json';

export interface CachedAttachment {
  readonly attachment: Attachment;
  readonly netns: string;
  readonly list: NetworkConfigList;
  readonly cniArgs: ReadonlyArray<[string, string]>;
  readonly capabilityArgs: Readonly<Record<string, unknown>>;
  readonly result: unknown;
  /** The cache file, for messages. */
  readonly file: string;
}

export interface Unusable {
  readonly file: string;
  readonly why: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The config list of a cache entry: a conflist, or a single plugin config (libcni's AddNetwork). */
function listOf(bytes: Buffer, file: string): NetworkConfigList {
  const json: unknown = parseJson(bytes.toString('utf8'));
  const isList = isObject(json) && Array.isArray(json['plugins']);
  return parseConfList(bytes, `${file}${isList ? '.conflist' : '.conf'}`);
}

function decode(file: string, raw: unknown, netconfPath: string): CachedAttachment {
  if (!isObject(raw) || raw['kind'] !== 'cniCacheV1') throw new Error('not a cniCacheV1 entry');
  const str = (k: string): string => {
    const v = raw[k];
    if (typeof v !== 'string') throw new Error(`${k} is not a string`);
    return v;
  };
  const attachment: Attachment = {
    networkName: validateNetworkName(str('networkName')),
    containerId: validateContainerId(str('containerId')),
    ifName: validateIfName(str('ifName')),
  };
  const base = file.slice(file.lastIndexOf('/') + 1);
  if (base !== `${attachment.networkName}-${attachment.containerId}-${attachment.ifName}`)
    throw new Error('its file name does not match the attachment it names');
  const netns = raw['netns'] === undefined ? '' : str('netns');
  if (netns !== '' && (!isAbsolute(netns) || netns.includes('\0'))) throw new Error('netns is not an absolute path');
  let list: NetworkConfigList;
  if (typeof raw['config'] === 'string' && raw['config'] !== '') {
    list = listOf(Buffer.from(raw['config'], 'base64'), file);
  } else {
    list = loadNetwork(netconfPath, attachment.networkName); // an entry without its config
  }
  if (list.name !== attachment.networkName) throw new Error(`its config is of network ${JSON.stringify(list.name)}`);
  const args = raw['cniArgs'] ?? [];
  if (
    !Array.isArray(args) ||
    !args.every((p) => Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'string'))
  )
    throw new Error('cniArgs is not a list of pairs');
  const caps = raw['capabilityArgs'] ?? {};
  if (!isObject(caps)) throw new Error('capabilityArgs is not an object');
  return {
    attachment,
    netns,
    list,
    cniArgs: args as Array<[string, string]>,
    capabilityArgs: caps,
    result: raw['result'],
    file,
  };
}

/**
 * Every usable cache entry, and why the others are not. Entries are read as state (safe-fs): a
 * link or a special file in `results` is unusable, never followed.
 */
export function readCache(
  cacheDir: string,
  netconfPath: string,
): { entries: CachedAttachment[]; unusable: Unusable[] } {
  let dir: SafeDir | undefined;
  try {
    dir = openResults(cacheDir);
  } catch (e) {
    return {
      entries: [],
      unusable: [{ file: join(cacheDir, 'results'), why: e instanceof Error ? e.message : String(e) }],
    };
  }
  if (!dir) return { entries: [], unusable: [] };
  const entries: CachedAttachment[] = [];
  const unusable: Unusable[] = [];
  try {
    for (const name of dir.list().sort()) {
      const file = dir.show(name);
      try {
        // Our own temp files of an entry being written (SafeDir.write) are not entries.
        if (name.startsWith('.') || dir.lstat(name)?.isDirectory() !== false) continue;
        const bytes = dir.read(name, MAX_CONFIG_FILE);
        if (!bytes) continue; // gone meanwhile
        entries.push(decode(file, parseJson(bytes.toString('utf8')) as unknown, netconfPath));
      } catch (e) {
        unusable.push({ file, why: e instanceof Error ? e.message : String(e) });
      }
    }
  } finally {
    dir.close();
  }
  return { entries, unusable };
}

/** Every network config of NETCONFPATH that parses (libcni skips the others too). */
export function readNetconfs(netconfPath: string): NetworkConfigList[] {
  let files: string[];
  try {
    files = listConfFiles(netconfPath);
  } catch {
    return [];
  }
  const seen = new Set<string>();
  const out: NetworkConfigList[] = [];
  for (const f of files) {
    try {
      const list = parseConfList(readFileBounded(f, MAX_CONFIG_FILE), f);
      validateNetworkName(list.name);
      if (seen.has(list.name)) continue; // the first file naming a network wins, as in libcni
      seen.add(list.name);
      out.push(list);
    } catch {
      // unparsable: skipped as libcni skips it
    }
  }
  return out;
}
