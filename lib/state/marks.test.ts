import { afterEach, describe, expect, it } from '@jest/globals';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testAttachment } from '../testutil/invocation';
import { clearTeardown, isMarked, listMarks, markTeardown, removeMark } from './marks';
import { DEFAULT_RUN_DIR, runDirOf } from './run-dir';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'tscni-marks-'));
  dirs.push(d);
  return d;
};
const a = testAttachment('net1', 'c1', 'eth0');

describe('teardown marks', () => {
  it('are set by DEL, seen by reload and cleared by ADD', () => {
    const run = fresh();
    const env = { TSCNI_RUN_DIR: run };
    expect(isMarked(run, a)).toBe(false);
    markTeardown(env, a);
    markTeardown(env, a); // idempotent
    expect(isMarked(run, a)).toBe(true);
    expect(listMarks(run).map((m) => m.attachment)).toEqual([a]);
    clearTeardown(env, a);
    expect(isMarked(run, a)).toBe(false);
    clearTeardown(env, a); // nothing to clear is fine
  });

  it('name attachments too long for a file name by a hash, and list them from their content', () => {
    const run = fresh();
    const long = testAttachment('net1', 'x'.repeat(300), 'eth0');
    markTeardown({ TSCNI_RUN_DIR: run }, long);
    expect(isMarked(run, long)).toBe(true);
    expect(listMarks(run).map((m) => m.attachment)).toEqual([long]);
    removeMark(run, long);
    expect(listMarks(run)).toEqual([]);
  });

  it('ignore files that do not name what they are called after', () => {
    const run = fresh();
    markTeardown({ TSCNI_RUN_DIR: run }, a);
    writeFileSync(join(run, 'teardown', 'net1:c2:eth0'), 'net1\nother\neth0\n');
    writeFileSync(join(run, 'teardown', 'garbage'), '');
    const old = new Date(Date.now() - 3600_000);
    utimesSync(join(run, 'teardown', 'net1:c1:eth0'), old, old);
    const marks = listMarks(run);
    expect(marks.map((m) => m.attachment)).toEqual([a]);
    expect(marks[0]?.since).toBeLessThan(Date.now() - 3000_000);
  });

  it('never fail the DEL that writes them', () => {
    const run = fresh();
    writeFileSync(join(run, 'teardown'), 'a file where the directory should be');
    expect(() => markTeardown({ TSCNI_RUN_DIR: run }, a)).not.toThrow();
  });

  // Issue 20 row 3: a link planted where a mark goes once had its target overwritten.
  it('never write through a link planted at a mark: the link is replaced, its target untouched', () => {
    const run = fresh();
    const victim = join(fresh(), 'victim');
    writeFileSync(victim, 'precious\n');
    mkdirSync(join(run, 'teardown'));
    symlinkSync(victim, join(run, 'teardown', 'net1:c1:eth0'));
    markTeardown({ TSCNI_RUN_DIR: run }, a);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(join(run, 'teardown', 'net1:c1:eth0')).isFile()).toBe(true);
    expect(isMarked(run, a)).toBe(true);
    removeMark(run, a);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  it('never write into a directory a planted teardown link points at', () => {
    const run = fresh();
    const elsewhere = fresh();
    writeFileSync(join(elsewhere, 'keep'), 'x');
    symlinkSync(elsewhere, join(run, 'teardown'));
    markTeardown({ TSCNI_RUN_DIR: run }, a);
    expect(readdirSync(elsewhere)).toEqual(['keep']);
    expect(lstatSync(join(run, 'teardown')).isDirectory()).toBe(true);
    expect(isMarked(run, a)).toBe(true);
  });

  it('read no link or oversized file back as a mark', () => {
    const run = fresh();
    const victim = join(fresh(), 'victim');
    writeFileSync(victim, 'net1\nc1\neth0\n');
    mkdirSync(join(run, 'teardown'));
    symlinkSync(victim, join(run, 'teardown', 'net1:c1:eth0'));
    writeFileSync(join(run, 'teardown', 'net1:c2:eth0'), 'net1\nc2\neth0\n' + 'x'.repeat(10_000));
    expect(listMarks(run)).toEqual([]);
    expect(isMarked(run, a)).toBe(false);
  });

  it('take the run directory from TSCNI_RUN_DIR when it is a plain absolute path', () => {
    expect(runDirOf({})).toBe(DEFAULT_RUN_DIR);
    expect(runDirOf({ TSCNI_RUN_DIR: '/tmp/x' })).toBe('/tmp/x');
    for (const bad of ['relative', '/tmp/../etc', '/tmp/\0x', ''])
      expect(runDirOf({ TSCNI_RUN_DIR: bad })).toBe(DEFAULT_RUN_DIR);
  });
});
