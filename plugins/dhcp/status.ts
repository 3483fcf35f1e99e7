/** STATUS (CNI 1.1): ready when the daemon answers; code 50 when it does not run. */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { loadSocketConfig } from './config';
import { ask } from './daemon-call';

export async function status(inv: Invocation): Promise<void> {
  try {
    await ask(loadSocketConfig(inv.config).socketPath, { op: 'status' });
  } catch (e) {
    if (e instanceof CniError && e.code === ErrorCode.TryAgainLater)
      throw new CniError(ErrorCode.NotAvailable, e.msg, e.details);
    throw e;
  }
}
