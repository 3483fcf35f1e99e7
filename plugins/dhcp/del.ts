/** DEL: the daemon sends DHCPRELEASE (when the interface is still there) and forgets the lease; idempotent. */
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { loadSocketConfig } from './config';
import { ask } from './daemon-call';

export async function del(inv: Invocation): Promise<void> {
  await ask(loadSocketConfig(inv.config).socketPath, { op: 'release', attachment: attachmentOf(inv) });
}
