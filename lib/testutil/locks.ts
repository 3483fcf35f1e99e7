/** flock holders and waiters as the kernel lists them in /proc/locks (test-only module). */
import { readFileSync, statSync } from 'node:fs';

/** /proc/locks lines about the file with inode `ino`; waiters' lines have `->`. */
const linesAbout = (ino: number): string[] =>
  readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .filter((l) => l.includes(`:${ino} `));

/** How many processes wait for a flock on the file with inode `ino`. */
export function flockWaiters(ino: number): number {
  return linesAbout(ino).filter((l) => l.includes('->')).length;
}

/** How many processes hold a flock on the file with inode `ino`. */
export function flockHolders(ino: number): number {
  return linesAbout(ino).filter((l) => !l.includes('->') && l.includes('FLOCK')).length;
}

/** The same, for the file at `path`. */
export const flockWaitersOn = (path: string): number => flockWaiters(statSync(path).ino);
