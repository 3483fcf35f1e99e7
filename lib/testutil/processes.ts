/** Processes a test started through `unshare --fork` (test-only module). */
import { readFileSync } from 'node:fs';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The PID of the first child of `pid` — with `unshare --pid --fork`, PID 1 of the new namespace,
 * which nsenter must target rather than unshare itself — polled until it appears; undefined
 * after `tries` attempts `intervalMs` apart.
 */
export async function firstChildPid(pid: number, tries: number, intervalMs: number): Promise<number | undefined> {
  for (let i = 0; i < tries; i++) {
    try {
      const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
      if (kids) return Number(kids.split(/\s+/)[0]);
    } catch {
      /* not yet */
    }
    await sleep(intervalMs);
  }
  return undefined;
}
