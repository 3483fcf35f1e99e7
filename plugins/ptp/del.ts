/**
 * ptp DEL: idempotent. The masquerade rules are found by (network, container) — also when
 * CNI_NETNS is empty or the namespace is gone, where the reference leaks them — while the veth
 * goes with its container end (its gateway address and host routes with it); then the lease.
 */
import { delegate } from '../../lib/cni/delegate';
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { prevResultOf } from '../../lib/cni/netconf';
import { teardownMasquerade } from '../../lib/firewall/ip-masq';
import { concurrently } from '../../lib/async';
import type { Kernel } from '../../lib/net/kernel';
import { loadPtpConfig } from './config';
import { deleteContainerLink } from '../../lib/net/container-link';

export async function del(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadPtpConfig(inv.config);
  const runner = kernel.runner;
  const rules = async (): Promise<void> => {
    // From both backends: the container may have been set up under an earlier config.
    if (cfg.ipMasq)
      await teardownMasquerade(runner, attachmentOf(inv), prevResultOf(inv.config, inv.cniVersion, true)?.ips);
  };
  // The link before the lease, so its address is never handed out while still in use.
  const linkThenLease = async (): Promise<void> => {
    const link = await deleteContainerLink(inv.netns, inv.ifName, kernel.rtnl).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (cfg.ipamType !== '') await delegate('DEL', cfg.ipamType, inv, { runner });
    if (link) throw link;
  };
  await concurrently(rules(), linkThenLease());
}
