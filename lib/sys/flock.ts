/**
 * Exclusive file locks between processes: `flock(LOCK_EX)` on a lock file. The kernel drops a
 * flock when its holder dies (kill -9 included), so a crash costs the next caller nothing, and
 * waiters queue in the kernel instead of polling. Users: the IPAM store (the very lock the
 * reference takes), VLAN sub-interface state, port-forwarding setups, `tscni reload`, sbr (on
 * the container's namespace file, as the reference locks it).
 *
 * The descriptor locked is the one the caller's `open` returns, and a lock file is never looked
 * up by its path again: a link planted at the path between a check and a second open would make
 * us lock (and wait for) another file. State lock files are opened through safe-fs
 * (`SafeDir.openLockFile`: created and opened without following a link, a regular file or
 * refused); a namespace file through lib/sys/netns.ts's checks.
 *
 * Within one process callers of one file are queued first: two flocks on separate descriptors
 * of one file would block each other, and a blocked flock blocks the whole (single JavaScript thread)
 * process. Under Node.js (unit tests, one process) the file is opened all the same (its checks
 * hold there too), but the queue alone is the lock.
 */
import { closeSync } from 'node:fs';
import { errnoNumber } from './errno';
import { LockError, sysTrace } from './fs-errors';
import { available, libc, LOCK_EX } from './libc';

export { LockError } from './fs-errors';

export interface LockFile {
  /** The file's path: this process's callers of one path queue, and errors name it. */
  readonly path: string;
  /** What is locked, for errors ("the IPAM store"). */
  readonly name: string;
  /** Opens the file (without following a planted link) and returns its descriptor, which is then locked and closed. */
  readonly open: () => number;
}

/** Per lock file, the callers of this process waiting for it (locks of different files nest). */
const queues = new Map<string, Promise<unknown>>();

/** Runs fn while holding the lock on the file `lock.open` opens. */
export function withFlock<T>(lock: LockFile, fn: () => Promise<T>): Promise<T> {
  const run = (queues.get(lock.path) ?? Promise.resolve()).then(() => holding(lock, fn));
  const settled = run.catch(() => undefined);
  queues.set(lock.path, settled);
  void settled.then(() => {
    if (queues.get(lock.path) === settled) queues.delete(lock.path);
  });
  return run;
}

async function holding<T>(lock: LockFile, fn: () => Promise<T>): Promise<T> {
  let fd: number;
  try {
    fd = lock.open();
  } catch (e) {
    // A refusal (a planted link or special file, not a namespace) is the opener's to word: trying
    // again will not help. A failed system call (a store removed meanwhile) may pass: code 11.
    if (typeof (e as NodeJS.ErrnoException).code !== 'string') throw e;
    throw new LockError(lock.name, `cannot open lock file ${lock.path}: ${(e as Error).message}`);
  }
  try {
    if (available()) {
      const t0 = performance.now();
      flockExclusive(fd, lock);
      // Where a burst of calls queues shows in the timeline (TSCNI_DEBUG=1).
      sysTrace(() => `locked ${lock.name} after ${(performance.now() - t0).toFixed(1)} ms`);
    }
    const t1 = performance.now();
    try {
      return await fn();
    } finally {
      sysTrace(() => `unlocked ${lock.name}, held ${(performance.now() - t1).toFixed(1)} ms`);
    }
  } finally {
    closeSync(fd); // releases the lock
  }
}

function flockExclusive(fd: number, lock: LockFile): void {
  const c = libc();
  // A signal (e.g. a child exiting) may interrupt the wait; anything else is an error.
  for (let tries = 0; c.flock(fd, LOCK_EX) !== 0; tries++) {
    const errno = c.errno();
    if (errno !== errnoNumber('EINTR') || tries > 100)
      throw new LockError(lock.name, `cannot lock ${lock.path}: errno ${errno}`);
  }
}
