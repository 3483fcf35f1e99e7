/** DEL: the daemon sends DHCPRELEASE (when the interface is still there) and forgets the lease; idempotent. */
import type { Invocation } from '../../lib/cni/dispatch';
import { attachmentOf, loadSocketConfig } from './config';
import { ask } from './daemon-call';

export async function del(inv: Invocation): Promise<void> {
  await ask(loadSocketConfig(inv).socketPath, { op: 'release', attachment: attachmentOf(inv) });
}
