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
 *   of ours lives in `.tscni/`, so our index and temp writes never move that mtime. After each
 *   change we set that mtime one second into the past: before Linux 6.13 directory times come
 *   from a clock that ticks every few ms (and an ext4 directory's size rarely moves), so a
 *   reference call right after ours could otherwise leave the stamp matching. No later change
 *   can produce a time in the past. Both implementations take the same flock on `lock`, so
 *   they never change the store at once.
 * - Allocation never trusts the index: an address is claimed by link(), which fails with EEXIST
 *   on whatever file another binary created, index or not.
 * - A failed change leaves nothing half-done: the lease, the round-robin cursor and index
 *   entries are written to a temp file in `.tscni/` first and linked or renamed into place; a
 *   temp file that could not be written is removed. Errors of the file system (full, read-only)
 *   become code 5 naming the store and the step.
 * - The reference walks the network directory recursively; our extra files have names that do
 *   not parse as IPs and contents (IP lists) that are not lease owners, so its walk ignores them.
 * - With host-local's reuse delay on, each release is also logged as `.tscni/released/<ip>`
 *   holding the time (ms since the epoch); the allocator skips addresses released less than the
 *   delay ago. Those files' contents are not lease owners either, so the reference ignores them
 *   (and allocates such an address at once). Nothing is logged while the delay is off.
 * - Every file is reached through lib/sys/safe-fs.ts: `<network>` and `.tscni/by-id` are opened
 *   from their parent's descriptor without following a link (a link where `.tscni` or `by-id`
 *   should be is replaced by a directory; one at `<network>` is refused, code 5), files are
 *   opened O_NOFOLLOW and bounded, and index entries are replaced by rename, never written
 *   through. A lease's content keeps the bytes of the interface name (raw-text.ts), as the
 *   reference writes them, so either implementation's DEL releases the other's lease.
 */
import { closeSync, existsSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { fileNameFor, SafeDir, UnsafePathError } from '../sys/safe-fs';
import { CniError, ErrorCode } from '../cni/errors';
import type { NetworkName } from '../cni/names';
import { formatIP, parseIP, type Addr } from '../addr/ip';
import { withFlock } from '../sys/flock';
import { debug, warn } from '../log';

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

export const leaseContent = (o: Owner): string => `${o.id.trim()}\r\n${o.ifname}`;
/**
 * Index file names. ':' is allowed in neither a container ID nor an interface name, so
 * `<id>:<ifname>` is unambiguous; a key too long for a file name is hashed behind '~', which
 * cannot start a container ID.
 */
const fileKey = (key: string): string => fileNameFor(key, 200);

/** A lease, an index entry, the cursor or the stamp: a few hundred bytes. Anything bigger is not ours. */
const MAX_STATE_FILE = 64 * 1024;
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

const REASONS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EIO: 'input/output error',
};

/** A file-system error in the store: code 5, naming the store and the step; `errno` says why. */
export class StoreError extends CniError {
  constructor(
    msg: string,
    readonly errno: string | undefined,
  ) {
    super(ErrorCode.IOFailure, msg);
    this.name = 'StoreError';
  }
}

export function storeError(dir: string, step: string, e: unknown): CniError {
  if (e instanceof CniError) return e;
  const code = errno(e);
  const reason = code && REASONS[code] ? `${REASONS[code]} (${code})` : (e as Error).message;
  return new StoreError(`host-local store ${dir}: cannot ${step}: ${reason}`, code);
}

/** The errno behind an error of the store, wrapped or not. */
const causeOf = (e: unknown): string | undefined => (e instanceof StoreError ? e.errno : errno(e));

/** Unlinks a file that may be absent; on a read-only store there is nothing to clean up either. */
function removeQuietly(d: SafeDir, name: string): void {
  try {
    d.unlink(name);
  } catch (e) {
    if (errno(e) !== 'EROFS') throw e;
  }
}

const stampOf = (s: BigIntStats): string => `${s.mtimeNs} ${s.size} ${s.ino}`;

/** Synchronous file calls: several times faster than fs.promises for many tiny files. */
function forEach<T>(items: Iterable<T>, fn: (item: T) => void): void {
  for (const item of items) fn(item);
}

/** The file's text, or `dflt` when it is missing; a link or special file there is not ours: `dflt` too. */
function readOr(d: SafeDir, name: string, dflt: string | undefined): string | undefined {
  try {
    return d.readText(name, MAX_STATE_FILE) ?? dflt;
  } catch (e) {
    if (e instanceof UnsafePathError) return dflt;
    throw e;
  }
}

/** Files of ours in `.tscni`: the stamp, and the temp files leases and other entries are written to first. */
const STAMP = 'stamp';
const LEASE_TMP = 'lease.tmp';
const WRITE_TMP = 'write.tmp';
/** The reuse delay's log of releases, one file per address. */
const RELEASED = 'released';

/** The store's directories, open while a call uses them. */
interface Dirs {
  readonly dir: SafeDir;
  readonly meta: SafeDir;
  readonly byId: SafeDir;
}

/**
 * The store of one network. Mutating methods must run inside locked(); lastReserved, names and
 * exists may also be used without the lock (STATUS probes).
 */
export class NetworkStore {
  private tmpContent: string | undefined;
  private stamp = '';
  private dirty = false;
  private invalid = false;
  /** The index as scanned, when it was stale and could not be rewritten (full disk). */
  private scanned: Map<string, string[]> | undefined;
  /** The directories, while locked() runs. */
  private open: Dirs | undefined;

  private constructor(
    /** The operator's dataDir (links in it are the operator's). */
    private readonly dataDir: string,
    private readonly network: NetworkName,
    /** `<dataDir>/<network>`, for messages. */
    readonly dir: string,
  ) {}

  /**
   * Opens `<dataDir>/<network>`, creating it and the lock file like the reference's MkdirAll;
   * `create = false` gives a read-only view for probes (the directory may not exist).
   */
  /**
   * Whether the network's store was ever made. DEL, GC and CHECK of a store that was not have
   * nothing to release or find, and make nothing (the reference's DEL makes `<network>/lock`).
   */
  static made(dataDir: string, network: NetworkName): boolean {
    return existsSync(join(dataDir, network));
  }

  static open(dataDir: string, network: NetworkName, create = true): NetworkStore {
    // Names are validated by the dispatcher; this guards the path itself.
    if (network === '' || network === '.' || network === '..' || network.includes('/') || network.includes('\0')) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid network name for a store path', network);
    }
    const store = new NetworkStore(dataDir, network, join(dataDir, network));
    if (!create) return store;
    try {
      const d = store.openDirs(true);
      try {
        // flock needs no write access: an existing lock file is not opened for writing (read-only store).
        closeQuietly(d.dir.openLockFile('lock'));
      } finally {
        closeDirs(d);
      }
    } catch (e) {
      throw new CniError(ErrorCode.IOFailure, `cannot use store directory ${store.dir}`, (e as Error).message);
    }
    return store;
  }

  /**
   * The store's directories, each opened from its parent without following a link: a link at
   * `<network>` is refused (UnsafePathError); one at `.tscni` or `by-id`, our own, is replaced.
   */
  private openDirs(create: boolean): Dirs {
    const base = SafeDir.require(this.dataDir, { create, mode: 0o755 });
    let dir: SafeDir | undefined;
    try {
      dir = base.requireSub(this.network, { create, mode: 0o755 });
    } finally {
      base.close();
    }
    try {
      const meta = dir.requireSub(META, { create: true, mode: 0o755, replace: true });
      try {
        const byId = meta.requireSub('by-id', { create: true, mode: 0o755, replace: true });
        return { dir, meta, byId };
      } catch (e) {
        meta.close();
        throw e;
      }
    } catch (e) {
      dir.close();
      throw e;
    }
  }

  /** The lock file's descriptor, reached as openDirs reaches the directory (a link there is refused). */
  private openLock(): number {
    const base = SafeDir.require(this.dataDir);
    try {
      const dir = base.requireSub(this.network);
      try {
        return dir.openLockFile('lock');
      } finally {
        dir.close();
      }
    } finally {
      base.close();
    }
  }

  private get d(): Dirs {
    if (!this.open) throw new Error('NetworkStore used outside locked()');
    return this.open;
  }

  /** Runs fn on the network directory: the open one inside locked(), else one opened for the call (none: undefined). */
  private withDir<T>(fn: (dir: SafeDir) => T): T | undefined {
    if (this.open) return fn(this.open.dir);
    const base = SafeDir.open(this.dataDir);
    if (!base) return undefined;
    let dir: SafeDir | undefined;
    try {
      dir = base.sub(this.network);
    } finally {
      base.close();
    }
    if (!dir) return undefined;
    try {
      return fn(dir);
    } finally {
      dir.close();
    }
  }

  /** Runs fn under the network lock with a fresh index; records the stamp afterwards. */
  locked<T>(fn: (s: NetworkStore) => T | Promise<T>): Promise<T> {
    // The reference's lock file: our host-local and the reference's exclude each other on a shared store.
    const lock = { path: join(this.dir, 'lock'), name: 'the IPAM store', open: () => this.openLock() };
    return withFlock(lock, async () => {
      let dirs: Dirs;
      try {
        dirs = this.openDirs(false);
      } catch (e) {
        throw storeError(this.dir, 'open the store', e);
      }
      this.open = dirs;
      try {
        // Left by a holder that crashed.
        removeQuietly(dirs.meta, LEASE_TMP);
        removeQuietly(dirs.meta, WRITE_TMP);
        this.tmpContent = undefined;
        this.dirty = false;
        this.invalid = false;
        this.scanned = undefined;
        this.stamp = readOr(dirs.meta, STAMP, '') ?? '';
        if (this.stamp !== stampOf(this.statDir())) await this.refreshIndex();
        try {
          return await fn(this);
        } finally {
          if (this.tmpContent !== undefined) removeQuietly(dirs.meta, LEASE_TMP);
          this.tmpContent = undefined;
          this.scanned = undefined;
          if (!this.invalid) this.saveStamp();
        }
      } finally {
        this.open = undefined;
        closeDirs(dirs);
      }
    });
  }

  /**
   * Rebuilds a stale index. Where it cannot be written (a full disk) this call works from the
   * scan in memory and leaves the stamp stale, so DEL still finds the leases it must release.
   */
  private async refreshIndex(): Promise<void> {
    try {
      await this.rebuildIndex();
    } catch (e) {
      const cause = causeOf(e);
      if (cause !== 'ENOSPC' && cause !== 'EDQUOT' && cause !== 'EROFS')
        throw storeError(this.dir, 'rebuild the index', e);
      const scanned = new Map<string, string[]>();
      for (const l of await this.scan()) scanned.set(keyOf(l.owner), [...(scanned.get(keyOf(l.owner)) ?? []), l.ip]);
      this.scanned = scanned;
      this.invalid = true;
      debug(`index of ${this.dir} not rewritten (${cause}): using the scan`);
    }
  }

  /** Called before any change to the store: until saveStamp, a crash forces a rebuild. */
  private markDirty(step: string): void {
    if (this.dirty) return;
    try {
      this.d.meta.unlink(STAMP);
    } catch (e) {
      throw storeError(this.dir, step, e);
    }
    this.stamp = '';
    this.dirty = true;
  }

  /** The index may not match the lease files (e.g. a rollback failed): the next holder rebuilds it. */
  invalidate(): void {
    this.invalid = true;
    try {
      this.markDirty('mark the index stale');
    } catch (e) {
      warn((e as Error).message);
    }
  }

  private statDir(): BigIntStats {
    return this.d.dir.stat();
  }

  /**
   * Records the directory as this holder leaves it. When it changed, its mtime is first set one
   * second back (see the top of this file). Best effort: without a stamp the next holder rebuilds.
   */
  private saveStamp(): void {
    try {
      let s = this.statDir();
      if (stampOf(s) === this.stamp) return;
      const back = Number(s.mtimeNs / 1000n) / 1e6 - 1;
      this.d.dir.utimes(Number(s.atimeNs / 1000n) / 1e6, back);
      s = this.statDir();
      this.d.meta.write(STAMP, stampOf(s), 0o600);
      this.stamp = stampOf(s);
    } catch (e) {
      debug(`stamp of ${this.dir} not saved (${(e as Error).message}): the next call rebuilds the index`);
      try {
        this.d.meta.unlink(STAMP);
      } catch {
        // read-only: nothing changed, so the old stamp is still right
      }
    }
  }

  /**
   * Writes `content` to `name` in `to` through a temp file in `.tscni` and a rename: the old
   * content or the new, never a part; a link at `name` is replaced, never written through.
   */
  private writeAtomically(to: SafeDir, name: string, content: string, step: string): void {
    const meta = this.d.meta;
    try {
      removeQuietly(meta, WRITE_TMP);
      if (!meta.createExclusive(WRITE_TMP, content, 0o600)) throw new Error(`${WRITE_TMP} exists`);
      meta.renameTo(WRITE_TMP, to, name);
    } catch (e) {
      try {
        removeQuietly(meta, WRITE_TMP);
      } catch {
        // reported below; the next holder removes it
      }
      throw storeError(this.dir, step, e);
    }
  }

  /** Every lease file in the directory (one readdir, one read per lease). */
  async scan(): Promise<Lease[]> {
    const out: Lease[] = [];
    // Also outside locked(): tscni gc reads a store it does not change.
    this.withDir((dir) =>
      forEach(dir.list().filter(isLeaseName), (name) => {
        const text = readOr(dir, name, undefined);
        if (text !== undefined) out.push({ ip: name, owner: parseLeaseContent(text) });
      }),
    );
    return out;
  }

  /**
   * Brings the index in line with the per-IP files. Entries are compared and only differing
   * ones rewritten or removed: after a crash or a reference call few differ, and reading 50k
   * small files is much cheaper than creating them again.
   */
  async rebuildIndex(leases?: readonly Lease[]): Promise<void> {
    this.markDirty('rebuild the index'); // a crash mid-rebuild must trigger another one
    const t0 = Date.now();
    const all = leases ?? (await this.scan());
    const want = new Map<string, string[]>();
    for (const l of all) {
      const k = keyOf(l.owner);
      const g = want.get(k);
      if (g) g.push(l.ip);
      else want.set(k, [l.ip]);
    }
    const text = (ips: readonly string[]): string => ips.join('\n') + '\n';
    const byId = this.d.byId;
    let changed = 0;
    forEach(byId.list(), (name) => {
      const ips = want.get(name);
      if (ips !== undefined && readOr(byId, name, undefined) === text(ips)) {
        want.delete(name);
      } else if (ips === undefined) {
        // Whatever it is (a stray directory included), it goes without anything being followed.
        byId.removeTree(name);
        changed++;
      }
    });
    forEach(want, ([k, ips]) => {
      this.writeAtomically(byId, k, text(ips), 'rebuild the index');
      changed++;
    });
    debug(`index of ${this.dir} rebuilt: ${all.length} leases, ${changed} entries changed, ${Date.now() - t0} ms`);
  }

  private readIndex(key: string): string[] {
    if (this.scanned) return this.scanned.get(key) ?? [];
    const text = readOr(this.d.byId, key, '') ?? '';
    return text.split('\n').filter((s) => s !== '');
  }

  private ownedBy(ip: string, content: string): boolean {
    if (!isLeaseName(ip)) return false;
    const text = readOr(this.d.dir, ip, undefined);
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
    this.markDirty('update the index');
    if (this.scanned) this.scanned.set(indexKey(o), [...ips]);
    if (ips.length > 0) this.writeAtomically(this.d.byId, indexKey(o), ips.join('\n') + '\n', 'update the index');
    else {
      try {
        this.d.byId.removeTree(indexKey(o));
      } catch (e) {
        throw storeError(this.dir, 'update the index', e);
      }
    }
  }

  dropLegacyIndex(id: string): void {
    this.markDirty('update the index');
    try {
      this.d.byId.removeTree(legacyKey(id));
    } catch (e) {
      throw storeError(this.dir, 'update the index', e);
    }
  }

  /** Atomically claims `ip` for `o`; false if it is already taken. */
  reserve(ip: string, o: Owner): boolean {
    const step = `write the lease of ${ip}`;
    this.markDirty(step);
    const content = leaseContent(o);
    const { meta, dir } = this.d;
    if (this.tmpContent !== content) {
      try {
        this.tmpContent = undefined;
        removeQuietly(meta, LEASE_TMP);
        if (!meta.createExclusive(LEASE_TMP, content, 0o600)) throw new Error(`${LEASE_TMP} exists`);
      } catch (e) {
        removeQuietly(meta, LEASE_TMP); // a temp file the disk had no room for
        throw storeError(this.dir, step, e);
      }
      this.tmpContent = content;
    }
    try {
      return meta.linkTo(LEASE_TMP, dir, ip);
    } catch (e) {
      throw storeError(this.dir, step, e);
    }
  }

  release(ips: readonly string[]): void {
    for (const ip of ips) {
      if (!isLeaseName(ip)) continue;
      this.markDirty(`release the lease of ${ip}`);
      try {
        this.d.dir.unlink(ip);
      } catch (e) {
        throw storeError(this.dir, `release the lease of ${ip}`, e);
      }
    }
  }

  /**
   * Logs when `ips` were released (the reuse delay): written through a temp file and renamed, so a
   * record is whole or absent. Best effort: a record that cannot be written only shortens the delay.
   */
  logReleased(ips: readonly string[], at: number): void {
    if (ips.length === 0) return;
    try {
      // Our own directory: a link or file planted there is replaced, never followed.
      const released = this.d.meta.requireSub(RELEASED, { create: true, mode: 0o700, replace: true });
      try {
        for (const ip of ips) {
          if (!isLeaseName(ip)) continue;
          this.writeAtomically(released, ip, String(at), `log the release of ${ip}`);
        }
      } finally {
        released.close();
      }
    } catch (e) {
      warn(`${(e as Error).message}: its reuse delay is not kept`);
    }
  }

  /**
   * Addresses released less than `delayMs` before `now`, with when each was released. Older
   * records are removed on the way (best effort, never through a link); an unreadable one counts as old.
   */
  recentlyReleased(delayMs: number, now: number): Map<string, number> {
    const out = new Map<string, number>();
    let released: SafeDir | undefined;
    try {
      released = this.d.meta.sub(RELEASED);
    } catch {
      return out; // a link or a file there: no log (logReleased replaces it)
    }
    if (!released) return out;
    try {
      for (const name of released.list()) {
        const at = Number(readOr(released, name, '') ?? '');
        if (isLeaseName(name) && Number.isFinite(at) && at > 0 && now - at < delayMs && at <= now) out.set(name, at);
        else {
          try {
            released.removeTree(name);
          } catch {
            // read-only: it is ignored all the same
          }
        }
      }
    } finally {
      released.close();
    }
    return out;
  }

  /** Names present in the directory: one readdir, used when probing meets many taken IPs. */
  names(): Set<string> {
    return new Set(this.withDir((d) => d.list()) ?? []);
  }

  lastReserved(setIndex: number): Addr | undefined {
    const text = this.withDir((d) => readOr(d, `last_reserved_ip.${setIndex}`, undefined));
    return text === undefined ? undefined : parseIP(text.trim());
  }

  /** The round-robin cursor, shared with the reference (which reads it under the same lock). */
  setLastReserved(setIndex: number, ip: string): void {
    const step = `record the last reserved address ${ip}`;
    this.markDirty(step);
    this.writeAtomically(this.d.dir, `last_reserved_ip.${setIndex}`, ip, step);
  }

  /** Who holds `ip`, read without the lock (a lease appears whole: it is linked into place). */
  ownerOf(ip: string): LeaseOwner | undefined {
    if (!isLeaseName(ip)) return undefined;
    const text = this.withDir((d) => readOr(d, ip, undefined));
    return text === undefined ? undefined : parseLeaseContent(text);
  }

  /** Lock-free existence test for STATUS probes. */
  exists(ip: string): boolean {
    return this.withDir((d) => d.lstat(ip) !== undefined) ?? false;
  }
}

function closeDirs(d: Dirs): void {
  d.byId.close();
  d.meta.close();
  d.dir.close();
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing to do
  }
}
