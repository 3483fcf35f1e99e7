/**
 * tuning GC: forgets the records of this network's attachments that are not in
 * `cni.dev/valid-attachments` (their namespaces are gone: nothing left to restore). Only records
 * that name their network (tscni's) are considered; without the key nothing is removed.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { validAttachmentsOf } from '../../lib/cni/netconf';
import { warn } from '../../lib/log';
import { loadDataDir } from './config';
import { diskStore, recordName, StateFileError } from './state';

export async function gc(inv: Invocation): Promise<void> {
  const valid = validAttachmentsOf(inv.config);
  if (!valid) return;
  const store = diskStore(loadDataDir(inv.config));
  const keep = new Set(valid.map((a) => recordName(a.containerID, a.ifname)));
  for (const name of store.names()) {
    if (keep.has(name)) continue;
    try {
      if (store.read(name)?.network === inv.networkName) store.remove(name);
    } catch (e) {
      if (!(e instanceof StateFileError)) throw e;
      warn(e.message);
    }
  }
}
