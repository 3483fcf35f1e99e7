/**
 * GC (CNI 1.1): the daemon releases the leases of this network whose attachment is not in
 * cni.dev/valid-attachments. Without that key nothing is released.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { validAttachmentsOf } from '../../lib/cni/netconf';
import { loadSocketConfig } from './config';
import { ask } from './daemon-call';

export async function gc(inv: Invocation): Promise<void> {
  const valid = validAttachmentsOf(inv.config);
  if (valid === undefined) return;
  await ask(loadSocketConfig(inv.config).socketPath, {
    op: 'gc',
    networkName: inv.networkName,
    valid: valid.map((a) => ({ containerId: a.containerID.trim(), ifName: a.ifname })),
  });
}
