/**
 * `tscni reload`: puts back the firewall rules of every running container after something wiped
 * them (a firewalld reload, `iptables -F`, `nft flush ruleset`, some kube-proxy modes), from the
 * state the plugins already keep — the analogue of netavark's `firewalld-reload`.
 *
 * Which containers: those in libcni's result cache (their config, capability args such as
 * portMappings, and result), plus, for runtimes that keep no cache, those the plugins' own state
 * knows from the network configs of NETCONFPATH (host-local leases for masquerade, the firewall
 * plugin's records). What: each plugin's concerns (lib/reload/types.ts), through the
 * FirewallDriver. How: the firewall is read once per pass (lib/firewall/snapshot.ts: one
 * `iptables-save` per family, one `nft -j list ruleset`) and every concern is judged from that
 * reading, its own check running only where the reading cannot tell; a concern whose rules are
 * intact is left alone (nothing is rewritten); the broken ones of every container are restored
 * together, their drivers' idempotent setups rendered into one batch (lib/firewall/batch.ts:
 * one `iptables-restore --noflush` per family, one `nft -f`), so running reload twice changes
 * nothing the second time. A concern that cannot be batched (the MAC spoof check, firewalld), or
 * every concern of a batch whose transaction failed, is restored on its own, container by
 * container, so one bad container cannot block the others.
 *
 * Safe while plugins run: reloads exclude each other (flock on `<runDir>/reload.lock`); a
 * container is only touched while it is alive — no teardown mark (lib/state/marks.ts), its netns still
 * there, its host-local leases still naming it — and that is checked again after restoring: a
 * container whose DEL began meanwhile has what reload restored taken back, so a DEL never
 * leaves rules behind because of a reload. Conflicting writes of concurrent ADDs are retried.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { attachmentKey, type Attachment } from '../cni/invocation';
import type { Env } from '../cni/io';
import { validateNetworkName } from '../cni/names';
import { isSupportedVersion } from '../cni/version';
import type { Runner } from '../exec/runner';
import { RestoreBatch } from '../firewall/batch';
import { withPortForwardingLock } from '../firewall/port-lock';
import { RulesetSnapshot, type Finding } from '../firewall/snapshot';
import { NetworkStore } from '../ipam/disk-store';
import { withFlock } from '../sys/flock';
import { SafeDir } from '../sys/safe-fs';
import { debug } from '../log';
import { injected } from '../runtime/chain';
import type { NetworkConfigList, PluginConf } from '../runtime/config';
import { isMarked, listMarks, removeMark } from '../state/marks';
import { readCache, readNetconfs, type CachedAttachment } from './sources';
import type { LeaseRef } from '../ipam/lease-refs';
import type { Concern, Outcome, ReloadConf, ReloaderLookup, Target } from './types';

export interface ReloadOptions {
  readonly cacheDir: string;
  readonly netconfPath: string;
  readonly runDir: string;
  /** List what is broken; change nothing. */
  readonly dryRun: boolean;
  /** Only these networks (all when empty). */
  readonly networks: readonly string[];
  readonly env: Env;
  readonly runner: Runner;
  readonly reloaders: ReloaderLookup;
}

/** A mark older than this whose attachment has no cache entry belongs to a finished DEL. */
const STALE_MARK_MS = 10 * 60 * 1000;
/** A restore that failed is tried again this often (a concurrent ADD may have raced it). */
const ATTEMPTS = 3;

const keyOf = (a: Attachment): string => attachmentKey(a.containerId, a.ifName, a.networkName);
const subjectOf = (a: Attachment): string => `${a.networkName}/${a.containerId}/${a.ifName}`;

/** One plugin of a list as libcni would have configured it: for an attachment's cache entry, or for the network alone. */
function confFor(list: NetworkConfigList, plugin: PluginConf, env: Env, e?: CachedAttachment): ReloadConf {
  const rt = e && {
    containerId: e.attachment.containerId,
    netns: e.netns,
    ifName: e.attachment.ifName,
    args: e.cniArgs,
    capabilityArgs: e.capabilityArgs,
  };
  const cniVersion = list.cniVersion;
  if (!isSupportedVersion(cniVersion)) throw new Error(`unsupported cniVersion ${JSON.stringify(cniVersion)}`);
  return {
    config: injected(list, plugin, rt, e?.result === undefined ? {} : { prevResult: e.result }),
    cniArgs: (e?.cniArgs ?? []).map(([k, v]) => `${k}=${v}`).join(';'),
    cniVersion,
    networkName: validateNetworkName(list.name),
    env,
  };
}

/** The targets of one cache entry: every concern of every plugin of its list we can reload. */
async function targetOf(e: CachedAttachment, opts: ReloadOptions): Promise<Target> {
  const concerns: Concern[] = [];
  const leases: LeaseRef[] = [];
  for (const plugin of e.list.plugins) {
    const reloader = await opts.reloaders(plugin.type);
    if (!reloader) continue;
    const got = reloader.concerns(confFor(e.list, plugin, opts.env, e), e.attachment, opts.runner);
    concerns.push(...got.concerns);
    leases.push(...got.leases);
  }
  return { attachment: e.attachment, netns: e.netns, leases, concerns, source: 'cache' };
}

/** Why the attachment is not (or no longer) to be touched; undefined while it is alive. */
function notAlive(t: Target, runDir: string): string | undefined {
  if (isMarked(runDir, t.attachment)) return 'being deleted (teardown mark)';
  if (t.netns !== '' && !existsSync(t.netns)) return `its netns ${t.netns} is gone`;
  for (const l of t.leases) {
    const owner = NetworkStore.open(l.dataDir, t.attachment.networkName, false).ownerOf(l.ip);
    const mine =
      owner !== undefined &&
      owner.id === t.attachment.containerId &&
      (owner.kind === 'legacy' || owner.ifname === t.attachment.ifName);
    if (!mine) return `its lease of ${l.ip} is gone`;
  }
  return undefined;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Why the concern is broken, or undefined when it is intact: from the pass's snapshot, or, where
 * that cannot tell, by the concern's own check (as CHECK does).
 */
async function brokenWhy(c: Concern, a: Attachment, snap: RulesetSnapshot): Promise<string | undefined> {
  if (c.inspect) {
    const f = await c.inspect(snap).catch((e: unknown): Finding => ({ state: 'unsure', detail: message(e) }));
    if (f.state === 'intact') return undefined;
    if (f.state === 'broken') return f.detail;
    debug(`reload: ${c.what} of ${a.containerId}/${a.ifName}: the snapshot cannot tell (${f.detail}); checking`);
  }
  try {
    await c.check();
    return undefined;
  } catch (e) {
    return message(e);
  }
}

/** A broken concern of a live container, to be restored; `slot` is its line in the report. */
interface Pending {
  readonly t: Target;
  readonly c: Concern;
  readonly broken: string;
  readonly slot: number;
}

/** Judges one target's concerns: intact and dry-run lines go to `out`; broken ones to `pending`, with a slot in `out`. */
async function judge(
  t: Target,
  opts: ReloadOptions,
  snap: RulesetSnapshot,
  out: Outcome[],
  pending: Pending[],
): Promise<void> {
  const a = t.attachment;
  const subject = subjectOf(a);
  const dead = notAlive(t, opts.runDir);
  if (dead) {
    out.push({ subject, what: 'all', state: 'skipped', detail: dead });
    return;
  }
  for (const c of t.concerns) {
    const broken = await brokenWhy(c, a, snap);
    if (broken === undefined) out.push({ subject, what: c.what, state: 'intact' });
    else if (opts.dryRun) out.push({ subject, what: c.what, state: 'broken', detail: broken });
    else {
      pending.push({ t, c, broken, slot: out.length });
      out.push({ subject, what: c.what, state: 'failed', detail: 'not restored' });
    }
  }
}

/**
 * Every pending concern that can render its restore into one batch (lib/firewall/batch.ts): one
 * transaction per family for all of them, under the port-forwarding lock (portmap's setup reads
 * and writes under it). Returns those the batch restored; none when a transaction failed.
 */
async function restoreBatched(pending: readonly Pending[], opts: ReloadOptions): Promise<Set<Pending>> {
  const staged = new Set<Pending>();
  if (!pending.some((p) => p.c.stage)) return staged;
  await withPortForwardingLock(async () => {
    const batch = new RestoreBatch(opts.runner);
    for (const p of pending) {
      // A container whose DEL began meanwhile is left out (and found gone below).
      if (!p.c.stage || notAlive(p.t, opts.runDir)) continue;
      try {
        await p.c.stage(batch);
        staged.add(p);
      } catch (e) {
        const a = p.t.attachment;
        debug(`reload: ${p.c.what} of ${a.containerId}/${a.ifName} is restored on its own: ${message(e)}`);
      }
    }
    if (staged.size === 0) return;
    try {
      await batch.commit();
    } catch (e) {
      // One bad container must not block the others: each is restored on its own below.
      debug(`reload: the batched restore failed (${message(e)}); restoring each container on its own`);
      staged.clear();
    }
  });
  return staged;
}

/** A concern's own restore, retried (a concurrent ADD may have raced it); the failure, if any. */
async function restoreAlone(p: Pending, opts: ReloadOptions): Promise<string | undefined> {
  const a = p.t.attachment;
  let failure: string | undefined;
  for (let i = 1; i <= ATTEMPTS; i++) {
    try {
      await p.c.restore();
      return undefined;
    } catch (e) {
      failure = message(e);
      if (notAlive(p.t, opts.runDir)) break;
      debug(`reload: restoring ${p.c.what} of ${a.containerId}/${a.ifName} failed (attempt ${i}): ${failure}`);
    }
  }
  return failure;
}

/** Restores the pending concerns (batched where they can be), then settles each one's line in `out`. */
async function restorePending(pending: readonly Pending[], opts: ReloadOptions, out: Outcome[]): Promise<void> {
  const batched = await restoreBatched(pending, opts);
  const failures = new Map<Pending, string | undefined>();
  for (const p of pending) {
    if (batched.has(p) || notAlive(p.t, opts.runDir)) continue;
    failures.set(p, await restoreAlone(p, opts));
  }
  for (const p of pending) {
    const subject = subjectOf(p.t.attachment);
    // A DEL may have begun while we restored: then what we put back must go again.
    const gone = notAlive(p.t, opts.runDir);
    const failure = failures.get(p);
    if (gone) {
      await p.c.undo().catch((e: unknown) => debug(`reload: undo of ${p.c.what} failed: ${message(e)}`));
      out[p.slot] = { subject, what: p.c.what, state: 'gone', detail: gone };
    } else if (failure !== undefined) {
      out[p.slot] = { subject, what: p.c.what, state: 'failed', detail: failure };
    } else {
      out[p.slot] = { subject, what: p.c.what, state: 'restored', detail: p.broken };
    }
  }
}

/** Runs reload; the outcomes are in the order attachments were found. */
export async function reload(opts: ReloadOptions): Promise<Outcome[]> {
  const path = join(opts.runDir, 'reload.lock');
  const open = (): number => {
    const dir = SafeDir.require(opts.runDir, { create: true, mode: 0o700 });
    try {
      return dir.openLockFile('reload.lock'); // created and opened without following a planted link
    } finally {
      dir.close();
    }
  };
  return withFlock({ path, name: `tscni reload (${path})`, open }, () => reloadLocked(opts));
}

async function reloadLocked(opts: ReloadOptions): Promise<Outcome[]> {
  const wanted = (net: string): boolean => opts.networks.length === 0 || opts.networks.includes(net);
  const out: Outcome[] = [];
  const { entries, unusable } = readCache(opts.cacheDir, opts.netconfPath);
  for (const u of unusable)
    out.push({ subject: u.file, what: 'all', state: 'skipped', detail: `unusable cache entry: ${u.why}` });
  const cached = new Set<string>();
  const targets: Target[] = [];
  for (const e of entries) {
    cached.add(keyOf(e.attachment));
    if (!wanted(e.attachment.networkName)) continue;
    try {
      targets.push(await targetOf(e, opts));
    } catch (err) {
      out.push({
        subject: subjectOf(e.attachment),
        what: 'all',
        state: 'skipped',
        detail: `cached state: ${message(err)}`,
      });
    }
  }
  // Containers of runtimes without a cache, from the networks of NETCONFPATH; what several
  // plugins know of one attachment is one target.
  const known = new Map<string, Target>();
  for (const list of readNetconfs(opts.netconfPath)) {
    if (!wanted(list.name)) continue;
    for (const plugin of list.plugins) {
      const reloader = await opts.reloaders(plugin.type);
      if (!reloader?.known) continue;
      try {
        for (const t of await reloader.known(confFor(list, plugin, opts.env), opts.runner)) {
          const k = keyOf(t.attachment);
          if (cached.has(k)) continue;
          const had = known.get(k);
          known.set(
            k,
            had ? { ...had, leases: [...had.leases, ...t.leases], concerns: [...had.concerns, ...t.concerns] } : t,
          );
        }
      } catch (err) {
        out.push({
          subject: `${list.name}/*/*`,
          what: plugin.type,
          state: 'skipped',
          detail: `config ${list.file}: ${message(err)}`,
        });
      }
    }
  }
  targets.push(...known.values());
  // One reading of the firewall for the whole pass, made when the first live container needs it.
  const snap = new RulesetSnapshot(opts.runner);
  const pending: Pending[] = [];
  for (const t of targets) {
    if (t.concerns.length === 0) continue;
    await judge(t, opts, snap, out, pending);
  }
  if (pending.length > 0) await restorePending(pending, opts, out);
  if (!opts.dryRun) pruneMarks(opts.runDir, cached);
  return out;
}

/** Marks of finished DELs: no cache entry any more, and old. */
function pruneMarks(runDir: string, cached: ReadonlySet<string>): void {
  const now = Date.now();
  for (const m of listMarks(runDir))
    if (!cached.has(keyOf(m.attachment)) && now - m.since > STALE_MARK_MS) removeMark(runDir, m.attachment);
}
