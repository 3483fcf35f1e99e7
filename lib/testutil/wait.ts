/**
 * Waiting on a condition in tests (test-only module). The time limit only guards against a hang
 * — generous, because the machine may be busy — and is never an assertion about speed.
 */
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How long a wait may take before the test fails as hung. */
export const HANG_GUARD_MS = 60_000;

/** Polls `cond` every `intervalMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = HANG_GUARD_MS,
  intervalMs = 50,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
