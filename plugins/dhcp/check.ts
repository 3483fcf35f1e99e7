/** CHECK: the daemon holds a lease for the attachment that has not ended, in the same namespace. */
import type { Invocation } from '../../lib/cni/dispatch';
import { attachmentOf, loadConfig } from './config';
import { ask } from './daemon-call';

export async function check(inv: Invocation): Promise<void> {
  await ask(loadConfig(inv).socketPath, { op: 'check', attachment: attachmentOf(inv) });
}
