/**
 * The one way tscni opens its state files (leases and their index, teardown marks, firewall
 * records, tuning state, VLAN users, lock files) and the files a config or the environment names.
 *
 * Trust: the directory a config or the environment names (dataDir, TSCNI_RUN_DIR, ...) is the
 * operator's, taken as given, links in it included. Everything below it is not trusted: another
 * program, an older release or an attacker with write access there may have planted a link or a
 * special file where tscni expects its own. So below the base:
 *  - every directory is opened relative to its verified parent (`/proc/self/fd/<fd>/<name>`, the
 *    kernel's *at() lookup from the parent's descriptor) with O_NOFOLLOW | O_DIRECTORY: a link
 *    is never followed, a path swapped after a check is not taken;
 *  - every file is opened O_NOFOLLOW | O_NONBLOCK and must be a regular file of bounded size
 *    (a FIFO cannot block, /dev/zero cannot fill memory, a link cannot redirect);
 *  - writes go to a new temp file (O_CREAT | O_EXCL | O_NOFOLLOW) renamed into place: a link at
 *    the name is replaced, never written through;
 *  - removal unlinks names; a tree is removed by descending through O_NOFOLLOW descriptors, so
 *    nothing outside it is ever deleted.
 * A directory not owned by this user, or writable by others without the sticky bit, is named in
 * a warning: whoever can write there can deny service (plant leases, marks, records), though no
 * longer redirect a write or a deletion outside it.
 */
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmdirSync,
  unlinkSync,
  utimesSync,
  writeSync,
  type BigIntStats,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { rawBytes, rawLength, rawString } from './raw-text';
import { randomBytes, sha256hex } from './hash';
import { safeFsWarn as warn, UnsafePathError } from './fs-errors';

export { setSafeFsWarner, UnsafePathError } from './fs-errors';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY, O_NOCTTY } = constants;

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/**
 * A file name for a key made of names a caller chose (a container ID has no length limit): the
 * key itself when it is a plain name of at most `max` bytes, else `~` and its hash. Keys that
 * start with '.' (temp files) or '~' (hashes) are hashed too, so no two keys share a name.
 * The file's content says what it is for, wherever a name must be read back.
 */
export function fileNameFor(key: string, max = 200): string {
  const plain = key !== '' && rawLength(key) <= max && !key.includes('/') && !key.includes('\0') && !/^[.~]/.test(key);
  return plain ? key : `~${sha256hex(key)}`;
}

/** One path component: no '/', not '.' or '..', no NUL. */
function component(name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0'))
    throw new UnsafePathError(name, 'not a single file name');
  return name;
}

const warned = new Set<string>();
function checkOwner(path: string, st: { uid: number; mode: number }): void {
  const uid = process.getuid?.() ?? 0;
  const othersWrite = (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0;
  if ((st.uid === uid && !othersWrite) || warned.has(path)) return;
  warned.add(path);
  warn(
    `state directory ${path} is ${st.uid !== uid ? `owned by uid ${st.uid}` : 'writable by others'}: whoever can write there can deny service (see README, Security)`,
  );
}

/** The bytes a name is written as (names keep their bytes, see raw-text.ts). */
const nameBytes = (name: string): string | Buffer => {
  const b = rawBytes(name);
  return b.toString('utf8') === name ? name : b;
};

/** The start of the names of write()'s temp files for `name`; the rest is 12 hex digits and `.tmp`. */
const tempPrefix = (name: string): string => `.${component(name).slice(0, 32)}.`;

/** An open directory below a trusted base, reached without following a link. */
export class SafeDir {
  private closed = false;

  private constructor(
    /** The directory's path, for messages only (never opened by it again). */
    readonly path: string,
    readonly fd: number,
  ) {}

  /**
   * Opens the operator's directory `path` (links in it are followed: it is configured, not
   * planted), creating it (and its parents) with `mode` when asked; undefined when it does not
   * exist and `create` is false.
   */
  static open(path: string, opts: { create?: boolean; mode?: number } = {}): SafeDir | undefined {
    if (opts.create) mkdirSync(path, { recursive: true, mode: opts.mode ?? 0o755 });
    let fd: number;
    try {
      fd = openSync(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK);
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      if (errno(e) === 'ENOTDIR') throw new UnsafePathError(path, 'not a directory');
      throw e;
    }
    const dir = new SafeDir(path, fd);
    checkOwner(path, fstatSync(fd));
    return dir;
  }

  /**
   * Opens `path` where only its parent is the operator's (a fixed subdirectory tscni names below
   * a configured root, such as `$TSCNI_STATE_DIR/vlan`): the parent as open() does, the last
   * component without following a link (one planted there is replaced by a directory).
   */
  static openChild(path: string, opts: { create?: boolean; mode?: number } = {}): SafeDir | undefined {
    const parent = SafeDir.open(dirname(path), opts.create ? { create: true, mode: 0o755 } : {});
    if (!parent) return undefined;
    try {
      return parent.sub(basename(path), { create: opts.create, mode: opts.mode, replace: true });
    } finally {
      parent.close();
    }
  }

  /**
   * A plugin's state directory: `own` (our default, e.g. /run/cni/tuning) through openChild, so a
   * link planted at it is replaced rather than followed; else (a configured dataDir, the
   * operator's) through open, whose links are the operator's to make.
   */
  static openState(path: string, own: boolean, opts: { create?: boolean; mode?: number } = {}): SafeDir | undefined {
    return own ? SafeDir.openChild(path, opts) : SafeDir.open(path, opts);
  }

  /** Like open, but the directory must be there (or be created). */
  static require(path: string, opts: { create?: boolean; mode?: number } = {}): SafeDir {
    const d = SafeDir.open(path, opts);
    if (!d) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    return d;
  }

  /** The kernel's path for `name` in this directory, looked up from the descriptor. */
  at(name: string): string | Buffer {
    const n = nameBytes(component(name));
    return typeof n === 'string'
      ? `/proc/self/fd/${this.fd}/${n}`
      : Buffer.concat([Buffer.from(`/proc/self/fd/${this.fd}/`), n]);
  }

  /** `name` in this directory for messages. */
  show(name: string): string {
    return join(this.path, name);
  }

  /**
   * The subdirectory `name`, never through a link. Missing: created when asked (mode), else
   * undefined. Something else there (a link, a file): with `replace` it is removed (a link is
   * unlinked, its target untouched) and a directory made in its place, else UnsafePathError.
   */
  sub(name: string, opts: { create?: boolean; mode?: number; replace?: boolean } = {}): SafeDir | undefined {
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = openSync(this.at(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK);
        const d = new SafeDir(this.show(name), fd);
        checkOwner(d.path, fstatSync(fd));
        return d;
      } catch (e) {
        const code = errno(e);
        if (code === 'ENOENT') {
          if (!opts.create) return undefined;
          try {
            mkdirSync(this.at(name), { mode: opts.mode ?? 0o755 });
          } catch (m) {
            if (errno(m) !== 'EEXIST' || attempt > 3) throw m; // made meanwhile: open it
          }
          continue;
        }
        if (code !== 'ELOOP' && code !== 'ENOTDIR') throw e;
        if (!opts.replace || attempt > 3)
          throw new UnsafePathError(this.show(name), 'is a symbolic link or not a directory; refusing to follow it');
        warn(`${this.show(name)} is not a directory (a link or a file): replacing it`);
        this.remove(name);
      }
    }
  }

  /** Like sub, but the directory must be there (or be created). */
  requireSub(name: string, opts: { create?: boolean; mode?: number; replace?: boolean } = {}): SafeDir {
    const d = this.sub(name, opts);
    if (!d)
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${this.show(name)}'`), {
        code: 'ENOENT',
      });
    return d;
  }

  /**
   * The content of the regular file `name`, at most `max` bytes; undefined when it does not
   * exist. A link, a FIFO, a device, a directory or a bigger file is an UnsafePathError.
   */
  read(name: string, max: number): Buffer | undefined {
    let fd: number;
    try {
      fd = openSync(this.at(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      if (errno(e) === 'ELOOP') throw new UnsafePathError(this.show(name), 'is a symbolic link; refusing to follow it');
      throw e;
    }
    try {
      return readOpenFile(fd, this.show(name), max);
    } finally {
      closeSync(fd);
    }
  }

  /** read() as text, keeping bytes that are not UTF-8 (raw-text.ts): a lease names an interface by its bytes. */
  readText(name: string, max: number): string | undefined {
    const b = this.read(name, max);
    return b === undefined ? undefined : rawString(b);
  }

  /** Metadata of `name` itself (lstat: a link is not followed); undefined when missing. */
  lstat(name: string): BigIntStats | undefined {
    try {
      return lstatSync(this.at(name), { bigint: true });
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      throw e;
    }
  }

  /**
   * Writes `data` to `name` atomically: a new temp file in this directory (O_EXCL, O_NOFOLLOW),
   * renamed over `name`. A link at `name` is replaced, its target never written.
   */
  write(name: string, data: string | Uint8Array, mode = 0o600, opts: { fsync?: boolean } = {}): void {
    const tmp = `${tempPrefix(name)}${randomBytes(6).toString('hex')}.tmp`;
    this.createExclusive(tmp, data, mode, opts);
    try {
      renameSync(this.at(tmp), this.at(name));
    } catch (e) {
      this.remove(tmp);
      throw e;
    }
  }

  /** Creates `name` with `data`; false when it exists already (nothing written then). */
  createExclusive(name: string, data: string | Uint8Array, mode = 0o600, opts: { fsync?: boolean } = {}): boolean {
    let fd: number;
    try {
      fd = openSync(this.at(name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    } catch (e) {
      if (errno(e) === 'EEXIST') return false;
      throw e;
    }
    try {
      const bytes = typeof data === 'string' ? rawBytes(data) : data;
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off);
      if (opts.fsync) fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      this.remove(name);
      throw e;
    }
    closeSync(fd);
    return true;
  }

  /** A hard link `to` of `from` (both here); false when `to` exists. link() never follows a link. */
  link(from: string, to: string): boolean {
    try {
      linkSync(this.at(from), this.at(to));
      return true;
    } catch (e) {
      if (errno(e) === 'EEXIST') return false;
      throw e;
    }
  }

  rename(from: string, to: string): void {
    renameSync(this.at(from), this.at(to));
  }

  /** Renames `from` here to `to` in `dir` (same file system): a link at `to` is replaced. */
  renameTo(from: string, dir: SafeDir, to: string): void {
    renameSync(this.at(from), dir.at(to));
  }

  /** A hard link `to` in `dir` of `from` here; false when `to` exists. */
  linkTo(from: string, dir: SafeDir, to: string): boolean {
    try {
      linkSync(this.at(from), dir.at(to));
      return true;
    } catch (e) {
      if (errno(e) === 'EEXIST') return false;
      throw e;
    }
  }

  /** Unlinks the file or link `name` (never a directory); false when it was not there. */
  unlink(name: string): boolean {
    try {
      unlinkSync(this.at(name));
      return true;
    } catch (e) {
      if (errno(e) === 'ENOENT') return false;
      throw e;
    }
  }

  /**
   * Removes the file `name` of an attachment that is going, and the temp files a write() of it
   * killed before its rename left beside it (they would keep a per-attachment directory from
   * going, and nothing else ever removes them). It reads the whole directory: for small ones.
   * A write of `name` running meanwhile would lose its temp file: only for names no one writes
   * while they are removed (DEL after ADD).
   */
  removeWithTemps(name: string): boolean {
    const prefix = tempPrefix(name);
    for (const n of this.list())
      if (n.startsWith(prefix) && /^[0-9a-f]{12}\.tmp$/.test(n.slice(prefix.length))) this.unlink(n);
    return this.remove(name);
  }

  /**
   * Removes the name `name`: a file or link is unlinked (a link's target stays), an empty
   * directory removed; false when it was not there. A directory that is not empty stays (see removeTree).
   */
  remove(name: string): boolean {
    try {
      unlinkSync(this.at(name));
      return true;
    } catch (e) {
      const code = errno(e);
      if (code === 'ENOENT') return false;
      if (code !== 'EISDIR' && code !== 'EPERM') throw e;
    }
    try {
      rmdirSync(this.at(name));
      return true;
    } catch (e) {
      if (errno(e) === 'ENOENT') return false;
      if (errno(e) === 'ENOTEMPTY' || errno(e) === 'EEXIST') return false;
      throw e;
    }
  }

  /** Removes `name` and, if it is a directory, everything in it, descending without following a link. */
  removeTree(name: string, depth = 0): void {
    if (depth > 32) throw new UnsafePathError(this.show(name), 'nested too deeply to remove');
    const sub = (() => {
      try {
        return this.sub(name);
      } catch (e) {
        if (e instanceof UnsafePathError) return undefined; // a link or a file: unlinked below
        throw e;
      }
    })();
    if (sub) {
      try {
        for (const n of sub.list()) sub.removeTree(n, depth + 1);
      } finally {
        sub.close();
      }
    }
    this.remove(name);
  }

  /** Names in the directory (as their bytes are: see raw-text.ts). */
  list(): string[] {
    return readdirSync(`/proc/self/fd/${this.fd}`, { encoding: 'buffer' }).map((b) => rawString(b));
  }

  /**
   * The directory at `names` below this one, each opened as sub() opens it; undefined when one
   * is missing and `create` is false. Intermediate descriptors are closed.
   */
  walk(
    names: readonly string[],
    opts: { create?: boolean; mode?: number; replace?: boolean } = {},
  ): SafeDir | undefined {
    const [first, ...rest] = names;
    if (first === undefined) throw new UnsafePathError(this.path, 'walk: no names given');
    let cur = this.sub(first, opts);
    for (const n of rest) {
      if (!cur) return undefined;
      const parent: SafeDir = cur;
      try {
        cur = parent.sub(n, opts);
      } finally {
        parent.close();
      }
    }
    return cur;
  }

  /** The directory's own metadata. */
  stat(): BigIntStats {
    return fstatSync(this.fd, { bigint: true });
  }

  /** Sets the directory's own times (seconds). */
  utimes(atime: number, mtime: number): void {
    utimesSync(`/proc/self/fd/${this.fd}`, atime, mtime);
  }

  /**
   * Opens (creating when missing) the regular file `name` for reading only, to flock it: never
   * through a link, and a FIFO, device or directory there is refused (UnsafePathError) without
   * blocking. Lock the descriptor returned; opening the path again could meet a link planted since.
   */
  openLockFile(name: string, mode = 0o600): number {
    for (let attempt = 0; ; attempt++) {
      let fd: number | undefined;
      try {
        fd = openSync(this.at(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
      } catch (e) {
        if (errno(e) === 'ELOOP')
          throw new UnsafePathError(this.show(name), 'is a symbolic link; refusing to follow it');
        if (errno(e) !== 'ENOENT' || attempt > 3) throw e;
      }
      if (fd !== undefined) {
        let regular = false;
        try {
          regular = fstatSync(fd).isFile();
        } finally {
          if (!regular) closeSync(fd);
        }
        if (!regular) throw new UnsafePathError(this.show(name), 'is not a regular file; refusing to lock it');
        return fd;
      }
      // Created write-only once, then opened read-only: flock needs no write access, and a
      // read-only store's existing lock file still opens.
      try {
        closeSync(openSync(this.at(name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode));
      } catch (e) {
        if (errno(e) !== 'EEXIST') throw e;
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/** Reads an open regular file, at most `max` bytes. */
function readOpenFile(fd: number, path: string, max: number): Buffer {
  const st = fstatSync(fd);
  if (!st.isFile()) throw new UnsafePathError(path, 'not a regular file');
  if (st.size > max) throw new UnsafePathError(path, `larger than ${max} bytes`);
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(Math.min(64 * 1024, max + 1 - total));
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    total += n;
    chunks.push(buf.subarray(0, n));
    // A file that grew past its stat size (procfs reports 0) is still bounded.
    if (total > max) throw new UnsafePathError(path, `larger than ${max} bytes`);
  }
  return Buffer.concat(chunks);
}

/**
 * Reads a file a config or the environment names (resolvConf, a conflist, a cache entry): links
 * are followed (it is configured, e.g. /etc/resolv.conf → systemd's stub), but it must be a
 * regular file of at most `max` bytes; it is opened O_NONBLOCK, so a FIFO cannot block the call.
 */
export function readFileBounded(path: string, max: number): Buffer {
  const fd = openSync(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  try {
    return readOpenFile(fd, path, max);
  } finally {
    closeSync(fd);
  }
}
