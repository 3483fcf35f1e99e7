/**
 * withFlock locks the descriptor its caller opened, never a path looked up again (issue 20: a
 * lock file was made without following a link, then reopened by path, so a link planted in
 * between made us lock, and wait for, another file). Under Node.js the flock itself is skipped,
 * but the open and its refusals are the executable's; plugins/host-local/store.int.test.ts holds
 * a planted lock against the executable's real flock.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireProgram } from '../testutil/programs';
import { LockError, withFlock, type LockFile } from './flock';
import { SafeDir, UnsafePathError } from './safe-fs';

let root: string;
let state: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'flock-'));
  state = join(root, 'state');
  mkdirSync(state);
  writeFileSync(join(root, 'victim'), 'precious');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A lock file in `state` as the callers open theirs: the directory, then the file through it. */
const lockIn = (name: string): LockFile => ({
  path: join(state, name),
  name: `the test lock ${name}`,
  open: () => {
    const d = SafeDir.require(state);
    try {
      return d.openLockFile(name);
    } finally {
      d.close();
    }
  },
});

describe('withFlock', () => {
  it('creates a missing lock file (a regular file) and queues this process’s callers of one file', async () => {
    const order: string[] = [];
    const hold = (tag: string): Promise<void> =>
      withFlock(lockIn('lock'), async () => {
        order.push(`${tag}+`);
        await new Promise((r) => setTimeout(r, 10));
        order.push(`${tag}-`);
      });
    await Promise.all([hold('x'), hold('y')]);
    expect(order).toEqual(['x+', 'x-', 'y+', 'y-']);
    expect(lstatSync(join(state, 'lock')).isFile()).toBe(true);
  });

  it('a link planted at the lock file after it was made is refused, not followed; nothing runs', async () => {
    await withFlock(lockIn('lock'), async () => undefined); // made, as the callers make it first
    unlinkSync(join(state, 'lock'));
    symlinkSync(join(root, 'victim'), join(state, 'lock'));
    let ran = false;
    await expect(
      withFlock(lockIn('lock'), async () => {
        ran = true;
      }),
    ).rejects.toThrow(UnsafePathError);
    expect(ran).toBe(false);
    expect(readFileSync(join(root, 'victim'), 'utf8')).toBe('precious');
    expect(lstatSync(join(state, 'lock')).isSymbolicLink()).toBe(true); // refused, left for whoever planted it
    // The queue is not stuck behind the refusal.
    unlinkSync(join(state, 'lock'));
    await expect(withFlock(lockIn('lock'), async () => 'ran')).resolves.toBe('ran');
  });

  it('a link to a directory, a directory, or a FIFO at the lock file is refused without blocking', async () => {
    symlinkSync(root, join(state, 'dirlink'));
    mkdirSync(join(state, 'dir'));
    execFileSync(requireProgram('mkfifo'), [join(state, 'fifo')]);
    for (const name of ['dirlink', 'dir', 'fifo'])
      await expect(withFlock(lockIn(name), async () => undefined)).rejects.toThrow(UnsafePathError);
  });

  it('a lock file that cannot be opened for another reason is a LockError naming it (try again later)', async () => {
    // The directory removed meanwhile: the open fails with ENOENT.
    const gone: LockFile = { path: join(root, 'gone', 'lock'), name: 'the test lock', open: () => lockInGone() };
    await expect(withFlock(gone, async () => undefined)).rejects.toThrow(LockError);
    await expect(withFlock(gone, async () => undefined)).rejects.toThrow(/the test lock: cannot open lock file/);
  });
});

function lockInGone(): number {
  const d = SafeDir.require(join(root, 'gone'));
  try {
    return d.openLockFile('lock');
  } finally {
    d.close();
  }
}
