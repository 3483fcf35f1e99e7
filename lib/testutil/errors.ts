/** The CNI error a call throws, in its wire shape, for exact assertions on code, msg and details (test-only). */
import { CniError } from '../cni/errors';

export function cniErrorOf(fn: () => unknown): { code: number; msg: string; details?: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof CniError) return e.toJSON();
    throw new Error(`expected a CniError, got ${String(e)}`);
  }
  throw new Error('expected a CniError, nothing was thrown');
}
