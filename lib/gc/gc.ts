/**
 * `tscni gc`: finds attachments whose container no longer exists and cleans them up the way a
 * runtime would — the network's DEL, plugin by plugin in reverse order, with what the runtime
 * passed at ADD (libcni's cache entry: config, CNI_ARGS, capability args, netns, result as
 * prevResult), or with the network's config and no netns when only a lease is left — then drops
 * the cache entry, as libcni does.
 *
 * Which attachments: every libcni cache entry, and every host-local lease of the networks in
 * the conf dir and in the cache (for runtimes that keep no cache). Whether their container
 * exists: lib/gc/judge.ts, from the runtimes' answers (lib/gc/runtimes.ts) and facts about the
 * machine (lib/gc/facts.ts), read in an order that keeps an ADD running right now safe: the
 * leases are listed first, then the running plugin calls, then the addresses in every
 * namespace — a lease that exists had its ADD begin before the listing, so its plugin is either
 * still running (seen) or finished with the address on the container's interface (seen). Right
 * before each DEL the running plugin calls are read again.
 *
 * A runtime whose libcni keeps no netns in its cache (libcni before 1.2: containerd 1.6, podman
 * 4.3) gets its DEL with the pinned namespace (/run/netns/…) that holds the attachment's leased
 * address on its interface, when one does, so the interface goes with it as with the runtime's
 * own DEL; the container's other attachments (CRI's loopback) get the same namespace. Only an
 * abandoned namespace qualifies: no process is in it, and no kept attachment's address is in it
 * (overlapping subnets of two networks). Otherwise DEL goes without a netns, as before.
 *
 * Why DEL and not the plugins' GC verb with the live attachments: a GC releases everything not
 * in its list, so an ADD that began after the list was made would lose its lease and rules; DEL
 * touches one attachment only. (Runtimes here send GC only for cniVersion 1.1.0 lists, too.)
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { Env } from '../cni/io';
import type { Runner } from '../exec/runner';
import { DEFAULT_DATA_DIR, NetworkStore } from '../ipam/disk-store';
import { readCache, readNetconfs, type CachedAttachment } from '../reload/sources';
import { delNetworkList, type RuntimeConf } from '../runtime/chain';
import type { NetworkConfigList, PluginConf } from '../runtime/config';
import { validateNetworkName } from '../cni/names';
import {
  addressIndex,
  allNamespaces,
  addressKey,
  bootTime,
  isNamedNamespacePath,
  isNamespace,
  namespaceId,
  namespacesInUse,
  runningPluginCalls,
} from './facts';
import { judge, type Evidence, type Facts, type RuntimeAnswer, podmanOwns } from './judge';
import { askCri, askPodman } from './runtimes';

export interface GcOptions {
  readonly cacheDir: string;
  readonly netconfPath: string;
  readonly cniPath: readonly string[];
  /** Only these networks (all when empty). */
  readonly networks: readonly string[];
  /** List what would be collected; change nothing. */
  readonly dryRun: boolean;
  /** Attachments younger than this are not collected on a runtime's word or an address scan alone. */
  readonly minAgeMs: number;
  /** CRI sockets to ask (those that do not exist are skipped). */
  readonly criSockets: readonly string[];
  /** Ask podman (when some attachment is podman's). */
  readonly askPodman: boolean;
  readonly env: Env;
  readonly runner: Runner;
  readonly log: (line: string) => void;
  /** Seams for tests. */
  readonly procDir?: string;
  readonly now?: () => number;
}

export type GcState = 'collected' | 'gone' | 'kept' | 'failed';

export interface GcOutcome {
  readonly subject: string;
  readonly state: GcState;
  readonly detail: string;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const keyOf = (net: string, id: string, ifName: string): string => `${net}\u0000${id}\u0000${ifName}`;
const subjectOf = (e: Evidence): string =>
  `${e.attachment.networkName}/${e.attachment.containerId}/${e.attachment.ifName}`;

/** The host-local data dirs a network's plugins use (an interface plugin's `ipam`). */
export function hostLocalDataDirs(list: NetworkConfigList): string[] {
  const dirs = new Set<string>();
  const consider = (p: PluginConf | Record<string, unknown>): void => {
    const ipam = p['ipam'];
    if (typeof ipam !== 'object' || ipam === null) return;
    const i = ipam as Record<string, unknown>;
    if (i['type'] !== 'host-local') return;
    dirs.add(typeof i['dataDir'] === 'string' && i['dataDir'] !== '' ? i['dataDir'] : DEFAULT_DATA_DIR);
  };
  for (const p of list.plugins) consider(p);
  return [...dirs];
}

interface Found {
  readonly evidence: Evidence[];
  readonly cached: Map<string, CachedAttachment>;
  readonly lists: Map<string, NetworkConfigList>;
  readonly notes: GcOutcome[];
}

/** Every attachment the cache and the leases know, merged per (network, container, interface). */
async function findAttachments(o: GcOptions): Promise<Found> {
  const wanted = (net: string): boolean => o.networks.length === 0 || o.networks.includes(net);
  const notes: GcOutcome[] = [];
  const lists = new Map<string, NetworkConfigList>();
  for (const l of readNetconfs(o.netconfPath)) if (wanted(l.name)) lists.set(l.name, l);
  const { entries, unusable } = readCache(o.cacheDir, o.netconfPath);
  for (const u of unusable) notes.push({ subject: u.file, state: 'kept', detail: `unusable cache entry: ${u.why}` });
  const byKey = new Map<
    string,
    { cache?: Evidence['cache']; leases: Evidence['leases'][number][]; ref: Evidence['attachment'] }
  >();
  const cached = new Map<string, CachedAttachment>();
  const storeLists = new Map<string, NetworkConfigList>(lists);
  for (const e of entries) {
    const a = e.attachment;
    if (!wanted(a.networkName)) continue;
    const k = keyOf(a.networkName, a.containerId, a.ifName);
    let mtimeMs = 0;
    try {
      mtimeMs = lstatSync(e.file).mtimeMs; // a link planted at the entry is judged by itself, never its target
    } catch {
      continue; // removed meanwhile (its DEL finished)
    }
    cached.set(k, e);
    byKey.set(k, { ref: a, cache: { file: e.file, netns: e.netns, cniArgs: e.cniArgs, mtimeMs }, leases: [] });
    if (!storeLists.has(a.networkName)) storeLists.set(a.networkName, e.list);
  }
  for (const [net, list] of storeLists) {
    for (const dataDir of hostLocalDataDirs(list)) {
      let store: NetworkStore;
      let leases;
      try {
        store = NetworkStore.open(dataDir, validateNetworkName(net), false);
        leases = await store.scan();
      } catch {
        continue; // no store (yet)
      }
      for (const l of leases) {
        if (l.owner.kind === 'legacy') {
          notes.push({
            subject: `${net}/${l.owner.id}/?`,
            state: 'kept',
            detail: `legacy lease of ${l.ip} names no interface`,
          });
          continue;
        }
        let mtimeMs: number;
        try {
          mtimeMs = lstatSync(join(store.dir, l.ip)).mtimeMs;
        } catch {
          continue; // released meanwhile
        }
        const k = keyOf(net, l.owner.id, l.owner.ifname);
        const had = byKey.get(k) ?? {
          ref: { networkName: net, containerId: l.owner.id, ifName: l.owner.ifname },
          leases: [],
        };
        had.leases.push({ ip: l.ip, dataDir, mtimeMs });
        byKey.set(k, had);
      }
    }
  }
  const evidence = [...byKey.values()].map((v) => ({
    attachment: v.ref,
    leases: v.leases,
    ...(v.cache ? { cache: v.cache } : {}),
  }));
  return { evidence, cached, lists, notes };
}

/** Runs gc; outcomes in the order attachments were found (cache entries first). */
export async function gc(o: GcOptions): Promise<GcOutcome[]> {
  const now = o.now ?? Date.now;
  const procDir = o.procDir ?? '/proc';
  const found = await findAttachments(o);
  const out: GcOutcome[] = [...found.notes];
  if (found.evidence.length === 0) return out;
  // Order matters (see the top of this file): leases listed, then running calls, then addresses.
  const busy = runningPluginCalls(procDir);
  const runtimes: RuntimeAnswer[] = await askCri(o.criSockets, o.log);
  if (o.askPodman && found.evidence.some(podmanOwns)) {
    const p = await askPodman(o.runner, o.log);
    if (p) runtimes.push(p);
  }
  const needsScan = found.evidence.some((e) => (e.cache?.netns ?? '') === '' && e.leases.length > 0);
  const addresses = needsScan ? await addressIndex(allNamespaces(procDir)) : new Map<string, string>();
  const facts: Facts = {
    now: now(),
    bootTime: bootTime(procDir),
    minAgeMs: o.minAgeMs,
    busy,
    runtimes,
    netnsExists: isNamespace,
    addressHolder: (ip, ifName) => addresses.get(addressKey(ip, ifName)),
  };
  const verdicts = found.evidence.map((e) => ({ e, v: judge(e, facts) }));
  const pinned = abandonedNamespaces(verdicts, addresses, procDir);
  for (const { e, v } of verdicts) {
    const subject = subjectOf(e);
    if (!v.gone) {
      out.push({ subject, state: 'kept', detail: v.why });
      continue;
    }
    const netns = (e.cache?.netns ?? '') === '' ? pinned.get(e.attachment.containerId) : undefined;
    const why = netns ? `${v.why}; DEL gets ${netns}, the netns holding its address` : v.why;
    if (o.dryRun) {
      out.push({ subject, state: 'gone', detail: why });
      continue;
    }
    out.push(await collect(e, why, netns, found, o, procDir));
  }
  return out;
}

/**
 * The pinned, abandoned namespace of each gone container whose cache entry names none, by
 * container ID (see the top).
 */
function abandonedNamespaces(
  verdicts: ReadonlyArray<{ e: Evidence; v: { gone: boolean } }>,
  addresses: ReadonlyMap<string, string>,
  procDir: string,
): Map<string, string> {
  const holders = (e: Evidence): string[] =>
    e.leases.flatMap((l) => addresses.get(addressKey(l.ip, e.attachment.ifName)) ?? []);
  const candidates = new Map<string, string>();
  for (const { e, v } of verdicts)
    if (v.gone && (e.cache?.netns ?? '') === '')
      for (const ns of holders(e)) if (isNamedNamespacePath(ns)) candidates.set(e.attachment.containerId, ns);
  if (candidates.size === 0) return candidates;
  const refused = new Set(verdicts.flatMap(({ e, v }) => (v.gone ? [] : holders(e))));
  const inUse = namespacesInUse(procDir);
  const out = new Map<string, string>();
  for (const [id, ns] of candidates) {
    const nsId = namespaceId(ns);
    if (nsId !== undefined && !inUse.has(nsId) && !refused.has(ns)) out.set(id, ns);
  }
  return out;
}

/** Deletes one attachment as its runtime would have. */
async function collect(
  e: Evidence,
  why: string,
  pinnedNetns: string | undefined,
  found: Found,
  o: GcOptions,
  procDir: string,
): Promise<GcOutcome> {
  const subject = subjectOf(e);
  const a = e.attachment;
  if (runningPluginCalls(procDir).has(a.containerId))
    return { subject, state: 'kept', detail: 'a plugin call for it began meanwhile' };
  const c = found.cached.get(keyOf(a.networkName, a.containerId, a.ifName));
  const list = c?.list ?? found.lists.get(a.networkName);
  if (!list)
    return { subject, state: 'failed', detail: `${why}; no config of network ${a.networkName} to delete it with` };
  const rt: RuntimeConf = {
    containerId: a.containerId,
    netns: c?.netns || pinnedNetns || '',
    ifName: a.ifName,
    args: c?.cniArgs ?? [],
    capabilityArgs: c?.capabilityArgs ?? {},
  };
  try {
    await delNetworkList(list, rt, { cniPath: o.cniPath, cacheDir: o.cacheDir, env: o.env });
  } catch (err) {
    return { subject, state: 'failed', detail: `${why}; DEL failed: ${message(err)}` };
  }
  const left = e.leases.filter((l) => {
    try {
      return (
        NetworkStore.open(l.dataDir, validateNetworkName(a.networkName), false).ownerOf(l.ip)?.id === a.containerId
      );
    } catch {
      return false;
    }
  });
  if (left.length > 0)
    return { subject, state: 'failed', detail: `${why}; DEL left the lease of ${left.map((l) => l.ip).join(', ')}` };
  return { subject, state: 'collected', detail: why };
}
