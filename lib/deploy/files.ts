/**
 * Atomic, idempotent file installation into directories a container runtime reads while we
 * write (the CNI bin and conf dirs):
 *  - a new version is written to a temp file in the same directory, fsynced, then renamed over
 *    the old name, so an exec or a config read sees the old file or the new one, never a part;
 *  - links are made as temp links and renamed the same way;
 *  - an unchanged file (same bytes) or link (same target) is left alone;
 *  - an installed copy of a file carries the source's mtime (as `cp -p`), so a later round finds
 *    it unchanged from size and mtime alone, without reading ~110 MB twice every interval; only
 *    when those differ are the bytes compared (and the mtime stamped when they are the same);
 *  - only plain names inside the given directory are written, only regular files and symlinks
 *    are replaced, and nothing is written through an existing symlink.
 */
import {
  constants,
  chmodSync,
  closeSync,
  fstatSync,
  fsyncSync,
  futimesSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  readlinkSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from '../sys/hash';
import { checkFileName } from './options';

export type Outcome = 'created' | 'updated' | 'unchanged';

export type Content = { readonly file: string } | { readonly bytes: Buffer };

const CHUNK = 1 << 20;
const TEMP = /^\..+\.tscni-\d+-[0-9a-f]{8}\.tmp$/;
/** A temp file this old is left over from a killed installer, not one being written. */
const STALE_MS = 10 * 60_000;

/** An error's message (errors from another realm, e.g. under jest, fail `instanceof Error`). */
export const errorText = (e: unknown): string =>
  typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string'
    ? (e as { message: string }).message
    : String(e);

/** Runs one step; a failure names the path and the step. */
function step<T>(path: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new Error(`install ${path}: ${what}: ${errorText(e)}`);
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Creates `dir` (and parents) when missing; it must end up a directory. */
export function ensureDir(dir: string): void {
  step(dir, 'create directory', () => mkdirSync(dir, { recursive: true, mode: 0o755 }));
  if (!step(dir, 'stat directory', () => statSync(dir)).isDirectory())
    throw new Error(`install ${dir}: not a directory`);
}

/** Removes temp files of killed installers (only our own naming, only old ones). */
export function removeStaleTemps(dir: string, now = Date.now()): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    if (!TEMP.test(name)) continue;
    const path = join(dir, name);
    const st = lstatOrUndefined(path);
    if (!st || !(st.isFile() || st.isSymbolicLink()) || now - st.mtimeMs < STALE_MS) continue;
    try {
      unlinkSync(path);
      removed.push(name);
    } catch {
      /* raced with another installer's cleanup */
    }
  }
  return removed;
}

function tempName(dir: string, name: string): string {
  return join(dir, `.${name}.tscni-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** mtimes equal to the millisecond (what utimes keeps of a Date). */
const sameMtime = (a: Stats, b: Stats): boolean => Math.trunc(a.mtimeMs) === Math.trunc(b.mtimeMs);

/** Byte equality of an open file and some content, read in chunks (the executable is ~100 MB). */
function sameBytes(fd: number, content: Content): boolean {
  if ('bytes' in content) {
    if (fstatSync(fd).size !== content.bytes.length) return false;
    const buf = Buffer.alloc(content.bytes.length);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) return false;
      off += n;
    }
    return buf.equals(content.bytes);
  }
  const src = openSync(content.file, 'r');
  try {
    const a = fstatSync(fd);
    const b = fstatSync(src);
    if (a.dev === b.dev && a.ino === b.ino) return true;
    if (a.size !== b.size) return false;
    const x = Buffer.alloc(CHUNK);
    const y = Buffer.alloc(CHUNK);
    for (let pos = 0; pos < a.size;) {
      const n = readSync(fd, x, 0, CHUNK, pos);
      const m = readSync(src, y, 0, n, pos);
      if (n === 0 || m !== n || !x.subarray(0, n).equals(y.subarray(0, n))) return false;
      pos += n;
    }
    return true;
  } finally {
    closeSync(src);
  }
}

function writeContent(fd: number, content: Content): void {
  const put = (buf: Buffer, len: number): void => {
    for (let off = 0; off < len;) off += writeSync(fd, buf, off, len - off);
  };
  if ('bytes' in content) return put(content.bytes, content.bytes.length);
  const src = openSync(content.file, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    for (let n = readSync(src, buf, 0, CHUNK, null); n > 0; n = readSync(src, buf, 0, CHUNK, null)) put(buf, n);
  } finally {
    closeSync(src);
  }
}

/**
 * Creates `<dir>/<name>` as a temp entry (`make`), renames it over `target` and syncs the
 * directory: a reader sees the old entry or the new one, never part of one. The temp entry
 * goes again when anything fails.
 */
function placeAtomically(dir: string, name: string, target: string, make: (temp: string) => void): void {
  const temp = tempName(dir, name);
  try {
    make(temp);
    step(target, 'rename into place', () => renameSync(temp, target));
  } catch (e) {
    try {
      unlinkSync(temp);
    } catch {
      /* not created, or already renamed */
    }
    throw e;
  }
  step(dir, 'fsync directory', () => fsyncDir(dir));
}

/**
 * Installs `content` as `<dir>/<name>` with `mode`. Same bytes already there: only a wrong mode
 * is fixed (chmod) and the result is 'unchanged'. For a file source, the same size and mtime as
 * the source count as the same bytes (see the header).
 */
export function installFile(dir: string, name: string, content: Content, mode: number): Outcome {
  checkFileName(name, 'file name');
  const target = join(dir, name);
  const old = step(target, 'inspect', () => lstatOrUndefined(target));
  if (old?.isDirectory()) throw new Error(`install ${target}: a directory is in the way`);
  if (old && !old.isFile() && !old.isSymbolicLink()) throw new Error(`install ${target}: not a regular file`);
  const srcStat = 'file' in content ? step(target, `stat ${content.file}`, () => statSync(content.file)) : undefined;
  if (old?.isFile() && srcStat && old.size === srcStat.size && sameMtime(old, srcStat)) {
    if ((old.mode & 0o7777) !== mode) step(target, 'chmod', () => chmodSync(target, mode));
    return 'unchanged';
  }
  if (old?.isFile()) {
    const same = step(target, 'compare', () => {
      const fd = openSync(target, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        return sameBytes(fd, content);
      } finally {
        closeSync(fd);
      }
    });
    if (same) {
      if ((old.mode & 0o7777) !== mode) step(target, 'chmod', () => chmodSync(target, mode));
      // Same bytes, other mtime (an older installer, a touch): stamp it for the fast path.
      if (srcStat) step(target, 'set mtime', () => utimesSync(target, old.atime, srcStat.mtime));
      return 'unchanged';
    }
  }
  if ('file' in content) step(target, `read ${content.file}`, () => closeSync(openSync(content.file, 'r')));
  placeAtomically(dir, name, target, (temp) => {
    const fd = step(target, `create temp file ${temp}`, () => openSync(temp, 'wx', mode));
    try {
      step(target, 'write temp file', () => writeContent(fd, content));
      if (srcStat) step(target, 'set mtime', () => futimesSync(fd, srcStat.atime, srcStat.mtime));
      step(target, 'fsync temp file', () => fsyncSync(fd));
    } finally {
      closeSync(fd);
    }
    // The umask may have cut bits off the mode given to open.
    step(target, 'chmod temp file', () => chmodSync(temp, mode));
  });
  return old ? 'updated' : 'created';
}

/** Makes `<dir>/<name>` a symlink to `linkTarget` (a plain name in the same dir). */
export function installLink(dir: string, name: string, linkTarget: string): Outcome {
  checkFileName(name, 'link name');
  checkFileName(linkTarget, 'link target');
  const path = join(dir, name);
  const old = step(path, 'inspect', () => lstatOrUndefined(path));
  if (old?.isDirectory()) throw new Error(`install ${path}: a directory is in the way`);
  if (old && !old.isFile() && !old.isSymbolicLink()) throw new Error(`install ${path}: not a regular file or link`);
  if (old?.isSymbolicLink() && step(path, 'read link', () => readlinkSync(path)) === linkTarget) return 'unchanged';
  placeAtomically(dir, name, path, (temp) =>
    step(path, `create temp link ${temp}`, () => symlinkSync(linkTarget, temp)),
  );
  return old ? 'updated' : 'created';
}
