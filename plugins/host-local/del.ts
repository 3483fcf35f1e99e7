/**
 * DEL: releases every lease of (containerID, ifname) in the network, found through the index;
 * idempotent, and independent of the configured ranges (they may have changed since ADD). A store
 * that was never made has nothing to release, and DEL makes none.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { NetworkStore } from '../../lib/ipam/disk-store';
import { clearTeardown } from '../../lib/state/marks';
import { loadStoreConfig } from '../../lib/ipam/config';

export async function del(inv: Invocation): Promise<void> {
  const { dataDir, reuseDelayMs } = loadStoreConfig(inv.config);
  const owner = { id: inv.containerId, ifname: inv.ifName };
  if (NetworkStore.made(dataDir, inv.networkName))
    await releaseIn(NetworkStore.open(dataDir, inv.networkName), owner, reuseDelayMs);
  // The lease now says the attachment is gone: its teardown mark has done its job.
  clearTeardown(inv.env, { networkName: inv.networkName, containerId: inv.containerId, ifName: inv.ifName });
}

async function releaseIn(
  store: NetworkStore,
  owner: { id: string; ifname: string },
  reuseDelayMs: number,
): Promise<void> {
  await store.locked((s) => {
    const ips = s.leasesOf(owner);
    s.release(ips);
    if (reuseDelayMs > 0) s.logReleased(ips, Date.now());
    s.setIndex(owner, []);
    // leasesOf fell back to legacy ID-only leases, which are now gone as well.
    if (ips.length > 0 && s.leasesOf(owner).length === 0) s.dropLegacyIndex(owner.id);
  });
}
