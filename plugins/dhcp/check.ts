/** CHECK: the daemon holds a lease for the attachment that has not ended, in the same namespace. */
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { loadConfig } from './config';
import { ask } from './daemon-call';

export async function check(inv: Invocation): Promise<void> {
  await ask(loadConfig(inv.config, inv.cniArgs).socketPath, { op: 'check', attachment: attachmentOf(inv) });
}
