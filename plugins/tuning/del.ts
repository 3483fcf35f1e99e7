/**
 * tuning DEL: puts back the interface attributes (and sysctls) ADD recorded, then forgets the
 * record. Without the namespace or the interface there is nothing to put back, and the record
 * goes too (the reference keeps it forever then). Restore failures are reported on stderr only:
 * like the reference, DEL does not fail over them, so the runtime can finish its teardown.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { warn } from '../../lib/log';
import type { Kernel } from '../../lib/net/kernel';
import { netnsExists } from '../../lib/net/open-netns';
import { loadDataDir } from './config';
import { diskStore, recordName, StateFileError, type StateRecord } from './state';
import { restoreTuning } from './tune';

export async function del(inv: Invocation, kernel: Kernel): Promise<void> {
  const store = diskStore(loadDataDir(inv.config, inv.cniArgs));
  const name = recordName(inv.containerId, inv.ifName);
  let record: StateRecord | undefined;
  try {
    record = store.read(name);
  } catch (e) {
    if (!(e instanceof StateFileError)) throw e;
    warn(`${e.message}; removing it`);
  }
  if (record && netnsExists(inv.netns)) {
    const rtnl = kernel.rtnl(inv.netns);
    try {
      const at = { network: inv.networkName, ifName: inv.ifName, record: name };
      const rec = record;
      const failed = kernel.withSysctlsIn(inv.netns, (sysctl) => restoreTuning({ rtnl, sysctl, store }, at, rec));
      if (failed) warn(`DEL ${inv.ifName}: ${failed.message}`);
    } finally {
      rtnl.close();
    }
  }
  store.remove(name);
}
