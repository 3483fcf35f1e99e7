/**
 * One exclusive lock per network directory (proper-lockfile: an atomic mkdir, refreshed while
 * held, taken over when older than STALE_MS so a holder killed with -9 cannot wedge the store).
 *
 * The reference flocks `<dir>/lock`; we keep that empty file so the directory looks the same,
 * but our lock directory lives under `<dir>/.tscni/` so that taking and dropping the lock does
 * not touch the network directory's mtime (the index freshness check depends on it).
 */
import { lock } from 'proper-lockfile';
import { warn } from '../log';

export const STALE_MS = 3000;

export class StoreLockError extends Error {
  override readonly name = 'StoreLockError';
}

/** Runs fn while holding the lock; waits (bounded) for other holders. */
export async function withLock<T>(target: string, lockDir: string, fn: () => Promise<T>): Promise<T> {
  let release: () => Promise<void>;
  try {
    release = await lock(target, {
      lockfilePath: lockDir,
      realpath: false,
      stale: STALE_MS,
      update: 1000,
      // ~60 s in total: enough for hundreds of queued callers, bounded for a wedged one.
      retries: { retries: 900, factor: 1.2, minTimeout: 5, maxTimeout: 80, randomize: true },
      onCompromised: (e) => warn(`store lock ${lockDir} compromised: ${e.message}`),
    });
  } catch (e) {
    throw new StoreLockError(`cannot lock ${lockDir}: ${(e as Error).message}`);
  }
  try {
    return await fn();
  } finally {
    await release().catch((e: unknown) => warn(`releasing ${lockDir} failed (ignored): ${(e as Error).message}`));
  }
}
