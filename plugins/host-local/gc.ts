/**
 * GC (CNI 1.1): releases every lease whose attachment is not in cni.dev/valid-attachments.
 * Without that key it does nothing. A legacy ID-only lease survives while any valid attachment
 * has its container ID. GC is inherently a full scan; it also rebuilds the index.
 */
import { attachmentKey, type Invocation } from '../../lib/cni/invocation';
import { validAttachmentsOf } from '../../lib/cni/netconf';
import { NetworkStore, type Lease } from '../../lib/ipam/disk-store';
import { loadStoreConfig } from '../../lib/ipam/config';

export async function gc(inv: Invocation): Promise<void> {
  const valid = validAttachmentsOf(inv.config);
  if (valid === undefined) return;
  const keep = new Set(valid.map((a) => attachmentKey(a.containerID.trim(), a.ifname)));
  const keepIds = new Set(valid.map((a) => a.containerID.trim()));
  const { dataDir, reuseDelayMs } = loadStoreConfig(inv.config);
  if (!NetworkStore.made(dataDir, inv.networkName)) return; // nothing was ever leased here
  const store = NetworkStore.open(dataDir, inv.networkName);
  await store.locked(async (s) => {
    const kept: Lease[] = [];
    const gone: string[] = [];
    for (const l of await s.scan()) {
      const ok =
        l.owner.kind === 'attachment' ? keep.has(attachmentKey(l.owner.id, l.owner.ifname)) : keepIds.has(l.owner.id);
      if (ok) kept.push(l);
      else gone.push(l.ip);
    }
    s.release(gone);
    if (reuseDelayMs > 0) s.logReleased(gone, Date.now());
    await s.rebuildIndex(kept);
  });
}
