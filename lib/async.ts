/** Helpers for running independent asynchronous steps. */

/**
 * Runs independent steps concurrently, waits for all of them, then returns their values or throws
 * the first failure. Waiting for every step first means a rollback never races a running step.
 */
export async function concurrently<T extends readonly unknown[]>(
  ...steps: { readonly [K in keyof T]: Promise<T[K]> }
): Promise<T> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
