/**
 * A minimal, deterministic ustar writer for image layers and the OCI archive: entries are
 * written in the order given (callers sort), owner 0:0 with empty user/group names, one fixed
 * mtime, explicit modes; nothing of the build machine (umask, owner, time) leaks in, so the same
 * inputs give the same bytes and digests.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

export type TarEntry =
  | { readonly type: 'dir'; readonly path: string; readonly mode: number }
  | { readonly type: 'file'; readonly path: string; readonly mode: number; readonly bytes: Buffer }
  /** A file copied from disk when written (large blobs are never held in memory). */
  | {
      readonly type: 'disk';
      readonly path: string;
      readonly mode: number;
      readonly file: string;
      readonly size: number;
    }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string };

const BLOCK = 512;

function octal(buf: Buffer, off: number, len: number, value: number): void {
  const text = value.toString(8).padStart(len - 1, '0');
  if (text.length > len - 1) throw new Error(`tar: ${value} does not fit a ${len}-byte field`);
  buf.write(text + '\0', off, len, 'ascii');
}

/** Splits a long path into ustar's prefix (≤155) and name (≤100) at a slash. */
function splitPath(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== '/') continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name) return { name, prefix };
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

/** The 512-byte ustar header of an entry. */
export function header(e: TarEntry, mtime: number): Buffer {
  if (e.path.startsWith('/') || e.path.split('/').includes('..')) throw new Error(`tar: unsafe path ${e.path}`);
  const h = Buffer.alloc(BLOCK);
  const path = e.type === 'dir' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
  const { name, prefix } = splitPath(path);
  h.write(name, 0, 100, 'utf8');
  const mode = e.type === 'symlink' ? 0o777 : e.mode;
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  const size = e.type === 'file' ? e.bytes.length : e.type === 'disk' ? e.size : 0;
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h.write('        ', 148, 8, 'ascii');
  h.write(e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0', 156, 1, 'ascii');
  if (e.type === 'symlink') {
    if (Buffer.byteLength(e.target) > 100) throw new Error(`tar: link target too long: ${e.target}`);
    h.write(e.target, 157, 100, 'utf8');
  }
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  octal(h, 329, 8, 0);
  octal(h, 337, 8, 0);
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

/** Writes a tar archive to `out`, feeding every byte to `sink` too (e.g. a hash); returns its size. */
export function writeTar(out: string, entries: readonly TarEntry[], mtime: number, sink?: (b: Buffer) => void): number {
  const fd = openSync(out, 'w', 0o644);
  let total = 0;
  const put = (b: Buffer): void => {
    for (let off = 0; off < b.length;) off += writeSync(fd, b, off);
    sink?.(b);
    total += b.length;
  };
  const pad = (size: number): void => {
    const rest = size % BLOCK;
    if (rest) put(Buffer.alloc(BLOCK - rest));
  };
  try {
    for (const e of entries) {
      put(header(e, mtime));
      if (e.type === 'file') {
        put(e.bytes);
        pad(e.bytes.length);
      } else if (e.type === 'disk') {
        const src = openSync(e.file, 'r');
        try {
          const buf = Buffer.alloc(1 << 20);
          let copied = 0;
          for (let n = readSync(src, buf, 0, buf.length, null); n > 0; n = readSync(src, buf, 0, buf.length, null)) {
            put(buf.subarray(0, n));
            copied += n;
          }
          if (copied !== e.size) throw new Error(`tar: ${e.file} changed size while being archived`);
        } finally {
          closeSync(src);
        }
        pad(e.size);
      }
    }
    put(Buffer.alloc(2 * BLOCK));
  } finally {
    closeSync(fd);
  }
  return total;
}

/** Every parent directory of the given paths, as dir entries (mode 0755). */
export function parentDirs(paths: readonly string[]): TarEntry[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [...dirs].map((path) => ({ type: 'dir', path, mode: 0o755 }));
}

/** Entries sorted by path (tar order must not depend on how they were collected). */
export const sortEntries = (entries: readonly TarEntry[]): TarEntry[] =>
  [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
