/** CHECK: the attachment must still hold at least one lease (reference semantics and text). */
import type { Invocation } from '../../lib/cni/invocation';
import { NetworkStore } from '../../lib/ipam/disk-store';
import { loadConfig } from '../../lib/ipam/config';

export async function check(inv: Invocation): Promise<void> {
  const { dataDir } = loadConfig(inv.config, inv.cniArgs);
  const store = NetworkStore.open(dataDir, inv.networkName);
  const found = await store.locked((s) => s.leasesOf({ id: inv.containerId, ifname: inv.ifName }).length > 0);
  if (!found) throw new Error(`host-local: Failed to find address added by container ${inv.containerId}`);
}
