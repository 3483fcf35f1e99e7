/**
 * Exclusive file locks between processes: `flock(LOCK_EX)` on a lock file. The kernel drops a
 * flock when its holder dies (kill -9 included), so a crash costs the next caller nothing, and
 * waiters queue in the kernel instead of polling. Users: the IPAM store (the very lock the
 * reference takes), VLAN sub-interface state, port-forwarding setups, `tscni reload`.
 *
 * Within one process callers of one file are queued first: two flocks on separate descriptors
 * of one file would block each other, and a blocked flock blocks the whole (single JavaScript thread)
 * process. Under Node.js (unit tests, one process) the queue alone is the lock.
 */
import { closeSync, openSync } from 'node:fs';
import { errnoNumber } from './errno';
import { LockError } from './fs-errors';
import { available, libc, LOCK_EX } from './libc';

export { LockError } from './fs-errors';

/** Per lock file, the callers of this process waiting for it (locks of different files nest). */
const queues = new Map<string, Promise<unknown>>();

/**
 * Runs fn while holding the lock on `lockFile` (which must exist); `lock` names it in errors.
 * `opened`, a descriptor of `lockFile` the caller already opened (safely), is locked instead of
 * opening the path again; it is this function's to close from then on.
 */
export function withFlock<T>(lockFile: string, lock: string, fn: () => Promise<T>, opened?: number): Promise<T> {
  const run = (queues.get(lockFile) ?? Promise.resolve()).then(() => holding(lockFile, lock, fn, opened));
  const settled = run.catch(() => undefined);
  queues.set(lockFile, settled);
  void settled.then(() => {
    if (queues.get(lockFile) === settled) queues.delete(lockFile);
  });
  return run;
}

async function holding<T>(lockFile: string, lock: string, fn: () => Promise<T>, opened?: number): Promise<T> {
  if (!available()) {
    if (opened !== undefined) closeSync(opened);
    return fn();
  }
  let fd: number;
  try {
    fd = opened ?? openSync(lockFile, 'r');
  } catch (e) {
    throw new LockError(lock, `cannot open lock file ${lockFile}: ${(e as Error).message}`);
  }
  try {
    flockExclusive(fd, lockFile, lock);
    return await fn();
  } finally {
    closeSync(fd); // releases the lock
  }
}

function flockExclusive(fd: number, lockFile: string, lock: string): void {
  const c = libc();
  // A signal (e.g. a child exiting) may interrupt the wait; anything else is an error.
  for (let tries = 0; c.flock(fd, LOCK_EX) !== 0; tries++) {
    const errno = c.errno();
    if (errno !== errnoNumber('EINTR') || tries > 100)
      throw new LockError(lock, `cannot lock ${lockFile}: errno ${errno}`);
  }
}
