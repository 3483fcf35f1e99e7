/** flock waiters as the kernel lists them in /proc/locks (test-only module). */
import { readFileSync, statSync } from 'node:fs';

/** How many processes wait for a flock on the file with inode `ino`. */
export function flockWaiters(ino: number): number {
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .filter((l) => l.includes('->') && l.includes(`:${ino} `)).length;
}

/** The same, for the file at `path`. */
export const flockWaitersOn = (path: string): number => flockWaiters(statSync(path).ino);
