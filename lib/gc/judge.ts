/**
 * `tscni gc`'s judgement: does the container behind an attachment still exist? Pure: it weighs
 * what was found on disk (libcni's cache entry, host-local leases) against facts gathered about
 * the machine (lib/gc/facts.ts) and the runtimes' answers (lib/gc/runtimes.ts), in this order:
 *
 * 1. a plugin call for the container is running now (its ADD, or the runtime's own DEL) → keep;
 * 2. a reachable runtime lists the container → keep;
 * 3. the runtime that made the attachment (told by its CNI_ARGS) is reachable and does not list
 *    it → gone, unless the attachment is younger than `minAgeMs` (CRI lists a sandbox only once
 *    RunPodSandbox has finished, after the network's ADD);
 * 4. everything on disk predates the last boot → gone (the reboot case: leases outlive the
 *    network namespaces, which live in memory);
 * 5. its network namespace is known: gone when that path is gone, kept while it exists;
 * 6. no namespace known (a runtime without a cache): kept while one of its leased addresses is
 *    on an interface of its name in some network namespace of the machine; gone otherwise,
 *    unless younger than `minAgeMs`.
 *
 * Anything not proven gone is kept: a wrong "gone" would cut a live container off, a wrong
 * "kept" only leaves a lease for the next run.
 */

export interface AttachmentRef {
  readonly networkName: string;
  readonly containerId: string;
  readonly ifName: string;
}

/** What the disk says about one attachment. */
export interface Evidence {
  readonly attachment: AttachmentRef;
  /** libcni's cache entry, when there is one. */
  readonly cache?: {
    readonly file: string;
    /** '' when the runtime passed none. */
    readonly netns: string;
    readonly cniArgs: ReadonlyArray<readonly [string, string]>;
    readonly mtimeMs: number;
  };
  /** host-local leases naming the attachment. */
  readonly leases: ReadonlyArray<{ readonly ip: string; readonly dataDir: string; readonly mtimeMs: number }>;
}

/** A runtime that answered: the containers it has, and which attachments are its own. */
export interface RuntimeAnswer {
  readonly name: string;
  readonly ids: ReadonlySet<string>;
  owns(e: Evidence): boolean;
}

export interface Facts {
  readonly now: number;
  /** When the machine booted (ms since the epoch). */
  readonly bootTime: number;
  readonly minAgeMs: number;
  /** Container IDs a plugin process is running for (CNI_CONTAINERID of running plugins). */
  readonly busy: ReadonlySet<string>;
  readonly runtimes: readonly RuntimeAnswer[];
  netnsExists(path: string): boolean;
  /** The network namespace holding `ip` on an interface named `ifName`, if any. */
  addressHolder(ip: string, ifName: string): string | undefined;
}

export type Verdict = { readonly gone: boolean; readonly why: string };

const keep = (why: string): Verdict => ({ gone: false, why });
const gone = (why: string): Verdict => ({ gone: true, why });

/** The newest time anything of the attachment was written. */
export function newestOf(e: Evidence): number {
  return Math.max(e.cache?.mtimeMs ?? 0, ...e.leases.map((l) => l.mtimeMs));
}

export function judge(e: Evidence, f: Facts): Verdict {
  const id = e.attachment.containerId;
  if (f.busy.has(id)) return keep('a plugin call for it is running');
  for (const r of f.runtimes) if (r.ids.has(id)) return keep(`${r.name} lists it`);
  const age = f.now - newestOf(e);
  const young = age < f.minAgeMs;
  const owner = f.runtimes.find((r) => r.owns(e));
  if (owner) {
    if (young) return keep(`${owner.name} does not list it yet, but it is younger than the minimum age`);
    return gone(`${owner.name} does not list it`);
  }
  if (newestOf(e) < f.bootTime) return gone('everything it left predates the last boot');
  const netns = e.cache?.netns ?? '';
  if (netns !== '') {
    return f.netnsExists(netns) ? keep(`its netns ${netns} exists`) : gone(`its netns ${netns} is gone`);
  }
  if (e.leases.length === 0) return keep('nothing tells whether it exists (no netns, no lease)');
  for (const l of e.leases) {
    const where = f.addressHolder(l.ip, e.attachment.ifName);
    if (where !== undefined) return keep(`${l.ip} is on ${e.attachment.ifName} in ${where}`);
  }
  if (young) return keep('no namespace holds its addresses, but it is younger than the minimum age');
  return gone(`no network namespace holds ${e.leases.map((l) => l.ip).join(', ')} on ${e.attachment.ifName}`);
}

/** CRI (containerd, CRI-O) passes the sandbox's own ID as K8S_POD_INFRA_CONTAINER_ID. */
export function criOwns(e: Evidence): boolean {
  return (e.cache?.cniArgs ?? []).some(
    ([k, v]) => k === 'K8S_POD_INFRA_CONTAINER_ID' && v === e.attachment.containerId,
  );
}

/** podman's CNI backend passes K8S_POD_NAME (the container's name) and no pod namespace. */
export function podmanOwns(e: Evidence): boolean {
  const keys = new Set((e.cache?.cniArgs ?? []).map(([k]) => k));
  return keys.has('K8S_POD_NAME') && !keys.has('K8S_POD_NAMESPACE') && !keys.has('K8S_POD_INFRA_CONTAINER_ID');
}
