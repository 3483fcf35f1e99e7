/**
 * The lease store, in the reference's on-disk format so either implementation can read it:
 * `<dataDir>/<network>/<ip>` holds `<containerID>\r\n<ifname>` (legacy: the ID alone),
 * `last_reserved_ip.<set>` the round-robin cursor, `lock` an empty file.
 *
 * Design (all under one lock per network, see lock.ts):
 * - A lease is created by link()ing a fully written temp file to the IP's name: it appears
 *   complete or not at all, and EEXIST is the atomic "taken" answer (one syscall per probe).
 * - An index `.tscni/by-id/<id>:<ifname>` lists an attachment's IPs, so ADD/DEL/CHECK cost does
 *   not grow with the number of leases. The per-IP files stay the truth: every index hit is
 *   verified, and the index is rebuilt from a full scan when it may be stale: (a) a holder
 *   crashed mid-change — every change first deletes `.tscni/stamp` and rewrites it when done,
 *   so a missing stamp means "interrupted"; (b) the reference plugin changed the directory —
 *   the stamp records the directory's (mtime, size, inode) after our last change. Everything
 *   of ours lives in `.tscni/`, so our index, temp and lock writes never move that mtime.
 *   (b) is only as fine as the kernel's timestamp tick: a reference write in the same tick as
 *   one of ours can go unnoticed (its lease is then found by GC, not DEL). Running both side
 *   by side is not supported anyway: the reference's flock and our lock do not exclude each other.
 * - The reference walks the network directory recursively; our extra files have names that do
 *   not parse as IPs and contents (IP lists) that are not lease owners, so its walk ignores them.
 */
import { closeSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { CniError, ErrorCode } from '../cni/errors';
import type { NetworkName } from '../cni/names';
import { formatIP, parseIP, type Addr } from './ip';
import { withLock } from './lock';
import { bestEffort, debug } from '../log';

export interface Owner {
  readonly id: string;
  readonly ifname: string;
}
/** What a lease file says: an owner, or a legacy lease naming only the container. */
export type LeaseOwner = { kind: 'attachment'; id: string; ifname: string } | { kind: 'legacy'; id: string };
export interface Lease {
  readonly ip: string;
  readonly owner: LeaseOwner;
}

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';
const META = '.tscni';
/** Parallel file operations during a full scan or rebuild (libuv runs them on its pool). */
const SCAN_PARALLEL = 32;

export const leaseContent = (o: Owner): string => `${o.id.trim()}\r\n${o.ifname}`;
/**
 * Index file names. ':' is allowed in neither a container ID nor an interface name, so
 * `<id>:<ifname>` is unambiguous; a key too long for a file name is hashed behind '~', which
 * cannot start a container ID.
 */
const fileKey = (key: string): string => (Buffer.byteLength(key) <= 200 ? key : `~${createHash('sha256').update(key).digest('hex')}`);
const indexKey = (o: Owner): string => fileKey(`${o.id.trim()}:${o.ifname}`);
const legacyKey = (id: string): string => fileKey(id.trim());
const keyOf = (o: LeaseOwner): string => (o.kind === 'attachment' ? indexKey(o) : legacyKey(o.id));

export function parseLeaseContent(text: string): LeaseOwner {
  const t = text.trim();
  const i = t.indexOf('\r\n');
  return i < 0 ? { kind: 'legacy', id: t } : { kind: 'attachment', id: t.slice(0, i), ifname: t.slice(i + 2) };
}

/** True when `name` is exactly how the reference names a lease file (canonical IP text). */
export function isLeaseName(name: string): boolean {
  const a = parseIP(name);
  return a !== undefined && formatIP(a) === name;
}

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/**
 * Runs fn over items with bounded parallelism. Asynchronous on purpose: a scan of 50k cold
 * files takes seconds, and the event loop must stay free for the lock's refresh timer.
 */
async function forEachLimit<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(SCAN_PARALLEL, items.length) }, worker));
}

function readOr(path: string, dflt: string | undefined): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT') return dflt;
    throw e;
  }
}

/**
 * The store of one network. Mutating methods must run inside locked(); lastReserved, names and
 * exists may also be used without the lock (STATUS probes).
 */
export class NetworkStore {
  private readonly byId: string;
  private readonly stampPath: string;
  private readonly tmpPath: string;
  private tmpContent: string | undefined;
  private stamp = '';
  private dirty = false;
  private invalid = false;
  /** Old index directories to delete once the lock is released. */
  private readonly retired: string[] = [];

  private constructor(
    readonly dir: string,
    private readonly meta: string,
  ) {
    this.byId = join(meta, 'by-id');
    this.stampPath = join(meta, 'stamp');
    this.tmpPath = join(meta, 'lease.tmp');
  }

  /**
   * Opens `<dataDir>/<network>`, creating it and the lock file like the reference's MkdirAll;
   * `create = false` gives a read-only view for probes (the directory may not exist).
   */
  static open(dataDir: string, network: NetworkName, create = true): NetworkStore {
    const root = resolve(dataDir);
    const dir = join(root, network);
    // Names are validated by the dispatcher; this guards the join itself.
    if (network === '.' || network === '..' || network.includes('/') || resolve(dir, '..') !== root) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid network name for a store path', network);
    }
    const meta = join(dir, META);
    if (!create) return new NetworkStore(dir, meta);
    try {
      mkdirSync(join(meta, 'by-id'), { recursive: true, mode: 0o755 });
      closeSync(openSync(join(dir, 'lock'), 'a', 0o600));
    } catch (e) {
      throw new CniError(ErrorCode.IOFailure, `cannot use store directory ${dir}`, (e as Error).message);
    }
    return new NetworkStore(dir, meta);
  }

  /** Runs fn under the network lock with a fresh index; records the stamp afterwards. */
  async locked<T>(fn: (s: NetworkStore) => T | Promise<T>): Promise<T> {
    try {
      return await this.lockedInner(fn);
    } finally {
      for (const d of this.retired.splice(0)) await bestEffort(`removing ${d}`, () => rm(d, { recursive: true, force: true }));
    }
  }

  private lockedInner<T>(fn: (s: NetworkStore) => T | Promise<T>): Promise<T> {
    return withLock(join(this.dir, 'lock'), join(this.meta, 'lock.lock'), async () => {
      rmSync(this.tmpPath, { force: true }); // left by a holder that crashed
      this.tmpContent = undefined;
      this.dirty = false;
      this.invalid = false;
      this.stamp = readOr(this.stampPath, '') ?? '';
      if (this.stamp !== this.dirStamp()) await this.rebuildIndex();
      try {
        return await fn(this);
      } finally {
        if (this.tmpContent !== undefined) rmSync(this.tmpPath, { force: true });
        this.tmpContent = undefined;
        if (!this.invalid) this.saveStamp();
      }
    });
  }

  /** Called before any change to the store: until saveStamp, a crash forces a rebuild. */
  private markDirty(): void {
    if (this.dirty) return;
    rmSync(this.stampPath, { force: true });
    this.stamp = '';
    this.dirty = true;
  }

  /** The index may not match the lease files (e.g. a rollback failed): the next holder rebuilds it. */
  invalidate(): void {
    this.markDirty();
    this.invalid = true;
  }

  private dirStamp(): string {
    const s = statSync(this.dir, { bigint: true });
    return `${s.mtimeNs} ${s.size} ${s.ino}`;
  }

  private saveStamp(): void {
    const now = this.dirStamp();
    if (now !== this.stamp) writeFileSync(this.stampPath, now, { mode: 0o600 });
    this.stamp = now;
  }

  /** Every lease file in the directory (one readdir, one read per lease). */
  async scan(): Promise<Lease[]> {
    const out: Lease[] = [];
    await forEachLimit(readdirSync(this.dir).filter(isLeaseName), async (name) => {
      try {
        out.push({ ip: name, owner: parseLeaseContent(await readFile(join(this.dir, name), 'utf8')) });
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw e;
      }
    });
    return out;
  }

  /**
   * Rewrites the whole index from the per-IP files: a new directory is filled and swapped in
   * with two renames, since deleting 50k entries in place would block for seconds. The old
   * one is removed after the lock is released (leftovers of a crash here: under the lock).
   */
  async rebuildIndex(leases?: readonly Lease[]): Promise<void> {
    this.markDirty(); // a crash mid-rebuild must trigger another one
    const t0 = Date.now();
    const all = leases ?? (await this.scan());
    const groups = new Map<string, string[]>();
    for (const l of all) {
      const k = keyOf(l.owner);
      const g = groups.get(k);
      if (g) g.push(l.ip);
      else groups.set(k, [l.ip]);
    }
    for (const n of readdirSync(this.meta)) {
      if (n === 'by-id.new' || n.startsWith('by-id.old.')) await rm(join(this.meta, n), { recursive: true, force: true });
    }
    const fresh = join(this.meta, 'by-id.new');
    mkdirSync(fresh, { mode: 0o755 });
    await forEachLimit([...groups], ([k, ips]) => writeFile(join(fresh, k), ips.join('\n') + '\n', { mode: 0o600 }));
    const old = join(this.meta, `by-id.old.${process.pid}`);
    try {
      renameSync(this.byId, old);
      this.retired.push(old);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
    renameSync(fresh, this.byId);
    debug(`index of ${this.dir} rebuilt: ${all.length} leases, ${groups.size} attachments, ${Date.now() - t0} ms`);
  }

  private readIndex(key: string): string[] {
    const text = readOr(join(this.byId, key), '') ?? '';
    return text.split('\n').filter((s) => s !== '');
  }

  private ownedBy(ip: string, content: string): boolean {
    if (!isLeaseName(ip)) return false;
    const text = readOr(join(this.dir, ip), undefined);
    return text !== undefined && text.trim() === content;
  }

  /**
   * The IPs an attachment holds, found via the index and verified against the lease files.
   * Like the reference, legacy ID-only leases count only when no current-format lease exists.
   */
  leasesOf(o: Owner): string[] {
    const own = this.readIndex(indexKey(o)).filter((ip) => this.ownedBy(ip, leaseContent(o)));
    if (own.length > 0) return own;
    return this.readIndex(legacyKey(o.id)).filter((ip) => this.ownedBy(ip, o.id.trim()));
  }

  /** Records the attachment's complete IP list (empty removes the entry and its legacy entry). */
  setIndex(o: Owner, ips: readonly string[]): void {
    this.markDirty();
    const path = join(this.byId, indexKey(o));
    if (ips.length > 0) writeFileSync(path, ips.join('\n') + '\n', { mode: 0o600 });
    else rmSync(path, { force: true });
  }

  dropLegacyIndex(id: string): void {
    this.markDirty();
    rmSync(join(this.byId, legacyKey(id)), { force: true });
  }

  /** Atomically claims `ip` for `o`; false if it is already taken. */
  reserve(ip: string, o: Owner): boolean {
    this.markDirty();
    const content = leaseContent(o);
    if (this.tmpContent !== content) {
      rmSync(this.tmpPath, { force: true });
      writeFileSync(this.tmpPath, content, { mode: 0o600, flag: 'wx' });
      this.tmpContent = content;
    }
    try {
      linkSync(this.tmpPath, join(this.dir, ip));
      return true;
    } catch (e) {
      if (errno(e) === 'EEXIST') return false;
      throw e;
    }
  }

  release(ips: readonly string[]): void {
    if (ips.length > 0) this.markDirty();
    for (const ip of ips) {
      if (!isLeaseName(ip)) continue;
      try {
        unlinkSync(join(this.dir, ip));
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw e;
      }
    }
  }

  /** Names present in the directory: one readdir, used when probing meets many taken IPs. */
  names(): Set<string> {
    return new Set(readdirSync(this.dir));
  }

  lastReserved(setIndex: number): Addr | undefined {
    const text = readOr(join(this.dir, `last_reserved_ip.${setIndex}`), undefined);
    return text === undefined ? undefined : parseIP(text.trim());
  }

  setLastReserved(setIndex: number, ip: string): void {
    this.markDirty();
    writeFileSync(join(this.dir, `last_reserved_ip.${setIndex}`), ip, { mode: 0o600 });
  }

  /** Lock-free existence test for STATUS probes. */
  exists(ip: string): boolean {
    try {
      statSync(join(this.dir, ip));
      return true;
    } catch (e) {
      if (errno(e) === 'ENOENT') return false;
      throw e;
    }
  }
}
