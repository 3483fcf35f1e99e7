/**
 * host-device GC (cniVersion 1.1.0): forwarded to IPAM, and every recorded attachment of this
 * network that is not among `cni.dev/valid-attachments` gets its device back, as its DEL would
 * have done (the reference v1.9 has no GC). Without the key nothing is touched.
 */
import { delegate } from '../../lib/cni/delegate';
import { attachmentKey, type Invocation } from '../../lib/cni/invocation';
import { validAttachmentsOf, validKeys } from '../../lib/cni/netconf';
import { Failures } from '../../lib/cni/errors';
import type { Kernel } from '../../lib/net/kernel';
import { loadStateConfig } from './config';
import { DeviceRecords } from './records';
import { bringBack } from './restore';

export async function gc(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadStateConfig(inv.config, inv.env);
  const valid = validAttachmentsOf(inv.config);
  if (cfg.ipamType !== '') await delegate('GC', cfg.ipamType, inv, { runner: kernel.runner });
  if (!valid) return;
  const keep = validKeys(valid);
  const records = new DeviceRecords(cfg.dataDir, cfg.ownDataDir);
  const failures = new Failures();
  for (const rec of records.list(inv.networkName)) {
    if (keep.has(attachmentKey(rec.containerId, rec.ifName))) continue;
    await bringBack(kernel, '', rec.ifName, rec).then(
      () => records.remove(rec.network, rec.containerId, rec.ifName),
      failures.of(`attachment ${rec.containerId}/${rec.ifName}`),
    );
  }
  failures.throwIfAny();
}
