/** The one way to open state files, against planted links and special files (issue 20 rows 2, 3, 5, 9). */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireProgram } from '../testutil/programs';
import { readFileBounded, SafeDir, UnsafePathError } from './safe-fs';

let root: string;
let victim: string;
let base: SafeDir;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'safe-fs-'));
  // What a planted link points at: files that must survive whatever tscni does.
  victim = join(root, 'victim');
  mkdirSync(victim);
  for (const f of ['a', 'b', 'c']) writeFileSync(join(victim, f), `precious ${f}`);
  base = SafeDir.require(join(root, 'state'), { create: true });
});
afterEach(() => {
  base.close();
  rmSync(root, { recursive: true, force: true });
});
const victimIntact = (): void => {
  expect(readdirSync(victim).sort()).toEqual(['a', 'b', 'c']);
  for (const f of ['a', 'b', 'c']) expect(readFileSync(join(victim, f), 'utf8')).toBe(`precious ${f}`);
};

describe('SafeDir', () => {
  it('never opens a directory through a link: refused, or replaced by a directory when asked', () => {
    symlinkSync(victim, join(root, 'state', 'by-id'));
    expect(() => base.sub('by-id')).toThrow(UnsafePathError);
    const d = base.requireSub('by-id', { create: true, replace: true });
    expect(lstatSync(join(root, 'state', 'by-id')).isDirectory()).toBe(true);
    d.write('x', 'y');
    d.close();
    victimIntact();
  });

  it('never reads through a link, nor a FIFO (without blocking), nor a directory, nor more than asked', () => {
    symlinkSync(join(victim, 'a'), join(root, 'state', 'link'));
    execFileSync(requireProgram('mkfifo'), [join(root, 'state', 'fifo')]);
    mkdirSync(join(root, 'state', 'dir'));
    writeFileSync(join(root, 'state', 'big'), 'x'.repeat(100));
    for (const name of ['link', 'fifo', 'dir']) expect(() => base.read(name, 1000)).toThrow(UnsafePathError);
    expect(() => base.read('big', 99)).toThrow(/larger than 99 bytes/);
    expect(base.readText('big', 100)).toHaveLength(100);
    expect(base.read('missing', 10)).toBeUndefined();
  });

  it('writes replace a link at the name instead of writing through it', () => {
    symlinkSync(join(victim, 'a'), join(root, 'state', 'record.json'));
    base.write('record.json', '{"new":true}');
    expect(lstatSync(join(root, 'state', 'record.json')).isFile()).toBe(true);
    expect(readFileSync(join(root, 'state', 'record.json'), 'utf8')).toBe('{"new":true}');
    victimIntact();
  });

  it('exclusive creation fails on a link instead of following it', () => {
    symlinkSync(join(victim, 'new'), join(root, 'state', 'lease'));
    expect(base.createExclusive('lease', 'x')).toBe(false);
    expect(existsSync(join(victim, 'new'))).toBe(false);
  });

  it('removeWithTemps also removes the temp files a killed write of the name left, and only those', () => {
    base.write('eth0.json', '{}');
    const state = join(root, 'state');
    // What write() leaves when killed between creating its temp file and the rename.
    for (const f of ['.eth0.json.0123456789ab.tmp', '.eth0.json.ba9876543210.tmp']) writeFileSync(join(state, f), '{');
    // Not temp files of this name: another name's, a name that only starts alike, another shape.
    const others = ['.eth1.json.0123456789ab.tmp', '.eth0.json2.0123456789ab.tmp', '.eth0.json.xyz.tmp', 'eth1.json'];
    for (const f of others) writeFileSync(join(state, f), '');
    symlinkSync(join(victim, 'a'), join(state, '.eth0.json.aaaaaaaaaaaa.tmp'));
    expect(base.removeWithTemps('eth0.json')).toBe(true);
    expect(readdirSync(state).sort()).toEqual([...others].sort());
    expect(base.removeWithTemps('eth0.json')).toBe(false);
    victimIntact();
  });

  it('removal unlinks a link, never its target; a tree is removed without leaving it', () => {
    symlinkSync(victim, join(root, 'state', 'dirlink'));
    symlinkSync(join(victim, 'a'), join(root, 'state', 'filelink'));
    base.remove('dirlink');
    base.remove('filelink');
    mkdirSync(join(root, 'state', 'tree', 'deeper'), { recursive: true });
    symlinkSync(victim, join(root, 'state', 'tree', 'deeper', 'escape'));
    writeFileSync(join(root, 'state', 'tree', 'f'), '');
    base.removeTree('tree');
    expect(readdirSync(join(root, 'state'))).toEqual([]);
    victimIntact();
  });

  // Found by the fuzzer: macvlan DEL created its VLAN lock through a link at $TSCNI_STATE_DIR/vlan.
  it("openChild follows the operator's parent but replaces a link at the child, its target untouched", () => {
    symlinkSync(victim, join(root, 'state', 'vlan'));
    const d = SafeDir.openChild(join(root, 'state', 'vlan'), { create: true });
    expect(d).toBeDefined();
    closeSync(d!.openLockFile('lock'));
    d!.close();
    expect(lstatSync(join(root, 'state', 'vlan')).isDirectory()).toBe(true);
    expect(existsSync(join(root, 'state', 'vlan', 'lock'))).toBe(true);
    victimIntact();
    expect(SafeDir.openChild(join(root, 'missing', 'vlan'))).toBeUndefined();
  });

  it('refuses names that are not one component', () => {
    for (const n of ['..', '.', 'a/b', '', 'x\0y']) expect(() => base.at(n)).toThrow(UnsafePathError);
  });

  it('lock files: a link is refused, a missing one created', () => {
    symlinkSync(join(victim, 'a'), join(root, 'state', 'lock'));
    expect(() => base.openLockFile('lock')).toThrow(UnsafePathError);
    base.remove('lock');
    const fd = base.openLockFile('lock');
    expect(lstatSync(join(root, 'state', 'lock')).isFile()).toBe(true);
    expect(fd).toBeGreaterThan(2);
    closeSync(fd);
    victimIntact();
  });
});

describe('readFileBounded (files a config names)', () => {
  it('follows a configured link to a regular file, refuses devices, FIFOs and big files without blocking', () => {
    writeFileSync(join(root, 'resolv.conf'), 'nameserver 10.0.0.1\n');
    symlinkSync(join(root, 'resolv.conf'), join(root, 'resolv-link'));
    expect(readFileBounded(join(root, 'resolv-link'), 1000).toString()).toContain('10.0.0.1');
    execFileSync(requireProgram('mkfifo'), [join(root, 'fifo')]);
    expect(() => readFileBounded(join(root, 'fifo'), 1000)).toThrow(/not a regular file/);
    expect(() => readFileBounded('/dev/zero', 1000)).toThrow(/not a regular file/);
    expect(() => readFileBounded(join(root, 'resolv.conf'), 5)).toThrow(/larger than 5 bytes/);
  });
});
