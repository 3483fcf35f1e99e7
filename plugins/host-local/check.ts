/** CHECK: the attachment must still hold at least one lease (reference semantics and text). */
import type { Invocation } from '../../lib/cni/invocation';
import { NetworkStore } from '../../lib/ipam/disk-store';
import { loadConfig } from '../../lib/ipam/config';

export async function check(inv: Invocation): Promise<void> {
  const { dataDir } = loadConfig(inv.config, inv.cniArgs);
  // A store that was never made holds no lease, and CHECK makes none.
  const found =
    NetworkStore.made(dataDir, inv.networkName) &&
    (await NetworkStore.open(dataDir, inv.networkName).locked(
      (s) => s.leasesOf({ id: inv.containerId, ifname: inv.ifName }).length > 0,
    ));
  if (!found) throw new Error(`host-local: Failed to find address added by container ${inv.containerId}`);
}
