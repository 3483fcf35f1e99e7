/**
 * Network configuration files as libcni loads them: `*.conflist` first, then `*.conf`/`*.json`
 * (a single plugin, up-converted to a one-element list), each group sorted by file name; the
 * first file that names the network wins.
 */
import { readdirSync } from 'node:fs';
import { readFileBounded } from '../sys/safe-fs';

/** A conflist or cache entry larger than this is refused unread (a config is kilobytes). */
export const MAX_CONFIG_FILE = 16 * 1024 * 1024;
import { join } from 'node:path';
import { compareVersions } from '../cni/version';
import { parseJson } from '../cni/json';

export interface PluginConf {
  readonly type: string;
  readonly capabilities?: Readonly<Record<string, boolean>>;
  readonly [key: string]: unknown;
}

export interface NetworkConfigList {
  readonly name: string;
  readonly cniVersion: string;
  readonly disableCheck: boolean;
  readonly disableGC: boolean;
  readonly plugins: readonly PluginConf[];
  /** The file's bytes (cached base64 in libcni's result cache). */
  readonly bytes: Buffer;
  readonly file: string;
}

const MAX_VERSION = '1.1.0';
const truthy = (v: unknown): boolean => v === true || (typeof v === 'string' && v.toLowerCase() === 'true');

/** The highest of cniVersion and cniVersions that we support. */
function pickVersion(obj: Record<string, unknown>): string {
  const all = [obj['cniVersion'], ...(Array.isArray(obj['cniVersions']) ? obj['cniVersions'] : [])].filter(
    (v): v is string => typeof v === 'string' && v !== '',
  );
  const ok = all.filter((v) => {
    try {
      return compareVersions(v, MAX_VERSION) <= 0;
    } catch {
      return false;
    }
  });
  ok.sort(compareVersions);
  return ok[ok.length - 1] ?? '0.1.0';
}

export function parseConfList(bytes: Buffer, file: string): NetworkConfigList {
  const obj = parseJson(bytes.toString('utf8')) as Record<string, unknown>;
  const isList = file.endsWith('.conflist');
  const rawPlugins = isList ? obj['plugins'] : [obj];
  if (!Array.isArray(rawPlugins) || rawPlugins.length === 0) throw new Error(`${file}: no plugins in list`);
  if (typeof obj['name'] !== 'string' || obj['name'] === '')
    throw new Error(`${file}: error parsing configuration list: no name`);
  const plugins = rawPlugins.map((p, i) => {
    if (typeof p !== 'object' || p === null || typeof (p as Record<string, unknown>)['type'] !== 'string')
      throw new Error(`${file}: plugin ${i} has no type`);
    return p as PluginConf;
  });
  return {
    name: obj['name'],
    cniVersion: pickVersion(obj),
    disableCheck: truthy(obj['disableCheck']),
    disableGC: truthy(obj['disableGC']),
    plugins,
    bytes,
    file,
  };
}

/** Every config file of a directory in libcni's priority order. */
export function listConfFiles(dir: string): string[] {
  const files = readdirSync(dir).sort();
  return [
    ...files.filter((f) => f.endsWith('.conflist')),
    ...files.filter((f) => f.endsWith('.conf') || f.endsWith('.json')),
  ].map((f) => join(dir, f));
}

export function loadNetwork(dir: string, name: string): NetworkConfigList {
  for (const f of listConfFiles(dir)) {
    let list: NetworkConfigList;
    try {
      list = parseConfList(readFileBounded(f, MAX_CONFIG_FILE), f);
    } catch {
      continue; // libcni skips files it cannot parse when searching by name
    }
    if (list.name === name) return list;
  }
  throw new Error(`no net configuration with name "${name}" in ${dir}`);
}
