/** Atomic, idempotent installation of files and links (temp dirs only). */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDir, installFile, installLink, removeStaleTemps } from './files';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tscni-files-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('installFile', () => {
  it('creates, then leaves an identical file alone (same inode, same mtime), then replaces a changed one', () => {
    const src = join(dir, 'src');
    writeFileSync(src, 'version 1');
    utimesSync(src, 1000, 1000);
    const bin = join(dir, 'bin');
    ensureDir(bin);
    expect(installFile(bin, 'tscni', { file: src }, 0o755)).toBe('created');
    const target = join(bin, 'tscni');
    expect(statSync(target).mode & 0o7777).toBe(0o755);
    // The copy carries the source's mtime, like cp -p.
    expect(statSync(target).mtimeMs).toBe(1000_000);
    const before = statSync(target);
    expect(installFile(bin, 'tscni', { file: src }, 0o755)).toBe('unchanged');
    const after = statSync(target);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);

    writeFileSync(src, 'version 2');
    expect(installFile(bin, 'tscni', { file: src }, 0o755)).toBe('updated');
    expect(readFileSync(target, 'utf8')).toBe('version 2');
    expect(statSync(target).ino).not.toBe(before.ino);
    expect(readdirSync(bin)).toEqual(['tscni']);
  });

  it('takes same size and mtime as unchanged without reading; compares the bytes when they differ', () => {
    const src = join(dir, 'src');
    writeFileSync(src, 'aaaa');
    utimesSync(src, 2000, 2000);
    expect(installFile(dir, 'copy', { file: src }, 0o755)).toBe('created');
    // Same size, same mtime: trusted (this is what spares reading 110 MB every round).
    writeFileSync(join(dir, 'copy'), 'bbbb');
    utimesSync(join(dir, 'copy'), 2000, 2000);
    expect(installFile(dir, 'copy', { file: src }, 0o755)).toBe('unchanged');
    // Another mtime (edited, touched): the bytes decide.
    utimesSync(join(dir, 'copy'), 3000, 3000);
    expect(installFile(dir, 'copy', { file: src }, 0o755)).toBe('updated');
    expect(readFileSync(join(dir, 'copy'), 'utf8')).toBe('aaaa');
    // Same bytes under another mtime (an older installer's copy): kept, its mtime stamped.
    const ino = statSync(join(dir, 'copy')).ino;
    utimesSync(join(dir, 'copy'), 4000, 4000);
    expect(installFile(dir, 'copy', { file: src }, 0o755)).toBe('unchanged');
    expect([statSync(join(dir, 'copy')).ino, statSync(join(dir, 'copy')).mtimeMs]).toEqual([ino, 2000_000]);
  });

  it('compares large files in chunks and notices a difference in the last byte', () => {
    const big = Buffer.alloc(3 * (1 << 20) + 17, 7);
    writeFileSync(join(dir, 'f'), big);
    expect(installFile(dir, 'f', { bytes: big }, 0o644)).toBe('unchanged');
    big[big.length - 1] = 8;
    const src = join(dir, 'src');
    writeFileSync(src, big);
    // Another mtime, so the bytes decide: two writes within one tick of the file system's coarse
    // clock share an mtime, and same size and mtime is the fast path's "unchanged".
    utimesSync(src, 5000, 5000);
    expect(installFile(dir, 'f', { file: src }, 0o644)).toBe('updated');
    expect(readFileSync(join(dir, 'f')).equals(big)).toBe(true);
  });

  it('fixes only the mode of identical content, keeping the mtime', () => {
    writeFileSync(join(dir, 'c.conflist'), '{}');
    chmodSync(join(dir, 'c.conflist'), 0o600);
    utimesSync(join(dir, 'c.conflist'), 1000, 1000);
    expect(installFile(dir, 'c.conflist', { bytes: Buffer.from('{}') }, 0o644)).toBe('unchanged');
    const st = statSync(join(dir, 'c.conflist'));
    expect(st.mode & 0o777).toBe(0o644);
    expect(st.mtimeMs).toBe(1000_000);
  });

  it('replaces a symlink instead of writing through it', () => {
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'keep me');
    symlinkSync(victim, join(dir, 'tscni'));
    expect(installFile(dir, 'tscni', { bytes: Buffer.from('new') }, 0o755)).toBe('updated');
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    expect(lstatSync(join(dir, 'tscni')).isFile()).toBe(true);
  });

  it('refuses a directory in the way and names that are not plain', () => {
    mkdirSync(join(dir, 'tscni'));
    expect(() => installFile(dir, 'tscni', { bytes: Buffer.from('x') }, 0o755)).toThrow(/a directory is in the way/);
    for (const bad of ['../x', 'a/b', '.', '..', '', '.hidden'])
      expect(() => installFile(dir, bad, { bytes: Buffer.from('x') }, 0o644)).toThrow(/plain file name/);
  });

  it('names the failed step', () => {
    expect(() => installFile(dir, 'x', { file: join(dir, 'missing') }, 0o644)).toThrow(
      /install .*\/x: stat .*missing: ENOENT/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('installLink', () => {
  it('creates a relative link, keeps a correct one, replaces a file or a wrong link', () => {
    expect(installLink(dir, 'bridge', 'tscni')).toBe('created');
    expect(readlinkSync(join(dir, 'bridge'))).toBe('tscni');
    expect(installLink(dir, 'bridge', 'tscni')).toBe('unchanged');
    writeFileSync(join(dir, 'portmap'), 'reference binary');
    expect(installLink(dir, 'portmap', 'tscni')).toBe('updated');
    expect(readlinkSync(join(dir, 'portmap'))).toBe('tscni');
    symlinkSync('/usr/lib/cni/host-local', join(dir, 'host-local'));
    expect(installLink(dir, 'host-local', 'tscni')).toBe('updated');
    expect(readdirSync(dir).sort()).toEqual(['bridge', 'host-local', 'portmap']);
  });

  it('refuses traversal in either name', () => {
    expect(() => installLink(dir, '../bridge', 'tscni')).toThrow(/plain file name/);
    expect(() => installLink(dir, 'bridge', '../../bin/sh')).toThrow(/plain file name/);
  });
});

describe('removeStaleTemps', () => {
  it('removes only our old temp files', () => {
    const old = '.tscni.tscni-123-0a1b2c3d.tmp';
    const fresh = '.bridge.tscni-456-deadbeef.tmp';
    for (const f of [old, fresh, '.other.tmp', 'tscni']) writeFileSync(join(dir, f), '');
    utimesSync(join(dir, old), 1, 1);
    expect(removeStaleTemps(dir)).toEqual([old]);
    expect(readdirSync(dir).sort()).toEqual(['.bridge.tscni-456-deadbeef.tmp', '.other.tmp', 'tscni']);
  });
});
