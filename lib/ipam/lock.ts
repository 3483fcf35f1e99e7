/**
 * One exclusive lock per network directory: `flock(LOCK_EX)` on `<dir>/lock`, the very lock the
 * reference takes, so our host-local and the reference's exclude each other on a shared store.
 * The kernel drops a flock when its holder dies (kill -9 included), so a crash costs the next
 * caller nothing, and waiters queue in the kernel instead of polling.
 *
 * Within one process callers of one file are queued first: two flocks on separate descriptors
 * of one file would block each other, and a blocked flock blocks the whole (single JavaScript thread)
 * process. Under Node.js (unit tests, one process) the queue alone is the lock.
 */
import { closeSync, openSync } from 'node:fs';
import { CniError, ErrorCode } from '../cni/errors';
import { errnoNumber } from '../sys/errno';
import { available, libc, LOCK_EX } from '../sys/libc';

/** The store could not be locked: code 11, the runtime may try again later. */
export class StoreLockError extends CniError {
  constructor(details: string, what = 'the IPAM store') {
    super(ErrorCode.TryAgainLater, `failed to lock ${what}`, details);
    this.name = 'StoreLockError';
  }
}

/** Per lock file, the callers of this process waiting for it (locks of different files nest). */
const queues = new Map<string, Promise<unknown>>();

/** Runs fn while holding the lock on `lockFile` (which must exist); `what` names it in errors. */
export function withLock<T>(lockFile: string, fn: () => Promise<T>, what?: string): Promise<T> {
  const run = (queues.get(lockFile) ?? Promise.resolve()).then(() => holding(lockFile, fn, what));
  const settled = run.catch(() => undefined);
  queues.set(lockFile, settled);
  void settled.then(() => {
    if (queues.get(lockFile) === settled) queues.delete(lockFile);
  });
  return run;
}

async function holding<T>(lockFile: string, fn: () => Promise<T>, what?: string): Promise<T> {
  if (!available()) return fn();
  let fd: number;
  try {
    fd = openSync(lockFile, 'r');
  } catch (e) {
    throw new StoreLockError(`cannot open lock file ${lockFile}: ${(e as Error).message}`, what);
  }
  try {
    flockExclusive(fd, lockFile, what);
    return await fn();
  } finally {
    closeSync(fd); // releases the lock
  }
}

function flockExclusive(fd: number, lockFile: string, what?: string): void {
  const c = libc();
  // A signal (e.g. a child exiting) may interrupt the wait; anything else is an error.
  for (let tries = 0; c.flock(fd, LOCK_EX) !== 0; tries++) {
    const errno = c.errno();
    if (errno !== errnoNumber('EINTR') || tries > 100)
      throw new StoreLockError(`cannot lock ${lockFile}: errno ${errno}`, what);
  }
}
