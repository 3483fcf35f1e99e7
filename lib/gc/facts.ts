/**
 * Facts about the machine that `tscni gc` weighs (lib/gc/judge.ts), each read when asked:
 * which containers a CNI plugin is running for right now (the environment of every process),
 * when the machine booted, whether a network namespace path is still a namespace, and which
 * namespace holds an address on an interface of a given name (an address dump of every network
 * namespace: the named ones in /run/netns and those of every process).
 */
import { readdirSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { formatIP, parseIP } from '../addr/ip';
import { debug } from '../log';

/** statfs f_type of a namespace file (linux/magic.h NSFS_MAGIC). */
const NSFS_MAGIC = 0x6e736673;

/** True while `path` is a network namespace (an `ip netns` bind mount, /proc/<pid>/ns/net). */
export function isNamespace(path: string): boolean {
  try {
    return statfsSync(path).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

const numeric = (name: string): boolean => /^[0-9]+$/.test(name);

/**
 * Container IDs of CNI plugin calls running now: every process whose environment has
 * CNI_COMMAND and CNI_CONTAINERID (a plugin, or a delegate it runs). Processes that end while
 * being read are skipped; this process is left out.
 */
export function runningPluginCalls(procDir = '/proc'): Set<string> {
  const out = new Set<string>();
  let pids: string[];
  try {
    pids = readdirSync(procDir).filter(numeric);
  } catch {
    return out;
  }
  const self = String(process.pid);
  for (const pid of pids) {
    if (pid === self) continue;
    let env: string;
    try {
      env = readFileSync(join(procDir, pid, 'environ'), 'latin1');
    } catch {
      continue; // gone, or a kernel thread
    }
    if (!env.includes('CNI_COMMAND=')) continue;
    let id: string | undefined;
    let command = false;
    for (const kv of env.split('\0')) {
      if (kv.startsWith('CNI_CONTAINERID=')) id = kv.slice('CNI_CONTAINERID='.length);
      else if (kv.startsWith('CNI_COMMAND=')) command = true;
    }
    if (command && id) out.add(id);
  }
  return out;
}

/** When the machine booted (ms since the epoch), from /proc/stat's btime. */
export function bootTime(procDir = '/proc'): number {
  const m = /^btime (\d+)$/m.exec(readFileSync(join(procDir, 'stat'), 'utf8'));
  if (!m?.[1]) throw new Error(`no btime in ${procDir}/stat`);
  return Number(m[1]) * 1000;
}

/** Where `ip netns` and the runtimes pin network namespaces by name. */
export const NAMED_NETNS_DIRS = ['/run/netns', '/var/run/netns'];

/** A pinned namespace's path (one that stays valid, unlike /proc/<pid>/ns/net). */
export const isNamedNamespacePath = (path: string, named = NAMED_NETNS_DIRS): boolean =>
  named.some((d) => path.startsWith(`${d}/`) && !path.slice(d.length + 1).includes('/'));

/** A namespace's identity (device and inode of its file), or undefined when it cannot be read. */
export function namespaceId(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** The identities of the network namespaces some process is in now. */
export function namespacesInUse(procDir = '/proc'): Set<string> {
  const out = new Set<string>();
  let pids: string[] = [];
  try {
    pids = readdirSync(procDir).filter(numeric);
  } catch {
    // no /proc
  }
  for (const pid of pids) {
    const id = namespaceId(join(procDir, pid, 'ns/net'));
    if (id !== undefined) out.add(id);
  }
  return out;
}

/** Every network namespace of the machine once, as a path to open: named ones first, then per process. */
export function allNamespaces(procDir = '/proc', named = NAMED_NETNS_DIRS): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const add = (path: string): void => {
    try {
      const s = statSync(path);
      const key = `${s.dev}:${s.ino}`;
      if (seen.has(key) || !isNamespace(path)) return;
      seen.add(key);
      out.push(path);
    } catch {
      // gone meanwhile
    }
  };
  add(join(procDir, 'self/ns/net'));
  for (const dir of named) {
    try {
      for (const n of readdirSync(dir).sort()) add(join(dir, n));
    } catch {
      // no such directory
    }
  }
  try {
    for (const pid of readdirSync(procDir).filter(numeric)) add(join(procDir, pid, 'ns/net'));
  } catch {
    // no /proc
  }
  return out;
}

/** `ip|ifname` → the namespace holding it, for every address in every namespace; see addressIndex. */
export type AddressIndex = ReadonlyMap<string, string>;

export const addressKey = (ip: string, ifName: string): string => {
  const a = parseIP(ip);
  return `${a ? formatIP(a) : ip}|${ifName}`;
};

/**
 * Reads the addresses of every namespace (one link and one address dump each, Bun only). A
 * namespace that vanishes meanwhile is skipped.
 */
export async function addressIndex(namespaces: readonly string[]): Promise<AddressIndex> {
  const { Rtnl } = await import('../netlink/rtnl');
  const out = new Map<string, string>();
  for (const ns of namespaces) {
    let rtnl;
    try {
      rtnl = Rtnl.open({ netnsPath: ns });
    } catch (e) {
      debug(`gc: cannot enter ${ns}: ${(e as Error).message}`);
      continue;
    }
    try {
      const names = new Map(rtnl.links().map((l) => [l.index, l.name]));
      for (const a of rtnl.addrs()) {
        const name = names.get(a.index);
        if (name !== undefined) {
          const k = addressKey(a.address, name);
          if (!out.has(k)) out.set(k, ns);
        }
      }
    } catch (e) {
      debug(`gc: cannot read the addresses in ${ns}: ${(e as Error).message}`);
    } finally {
      rtnl.close();
    }
  }
  return out;
}
