/**
 * bridge DEL: best effort and idempotent. The veth goes with the container end; the lease and
 * the masquerade rules are released by (network, container) even when CNI_NETNS is empty, the
 * namespace is gone or the interface was already removed (the reference leaks the rules then).
 */
import { delegate, ipamUsesInterface } from '../../lib/cni/delegate';
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { prevResultOf } from '../../lib/cni/netconf';
import { spoofRef, teardownSpoofcheck } from '../../lib/firewall/nftables/spoofcheck';
import type { Kernel } from '../../lib/net/kernel';
import { concurrently } from '../../lib/async';
import { markTeardown } from '../../lib/state/marks';
import { loadBridgeConfig } from './config';
import { teardownMasquerade } from '../../lib/firewall/ip-masq';
import { deleteContainerLink } from '../../lib/net/container-link';

export async function del(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadBridgeConfig(inv.config, inv.cniArgs);
  // Before any rule goes: tscni reload must not take this for a flush (lib/state/marks.ts).
  if (cfg.ipMasq || cfg.macspoofchk) markTeardown(inv.env, attachmentOf(inv));
  // The rules first (their programs run while the link goes); the link goes before the lease,
  // so its address is never handed out while still in use (except a dhcp lease, see below).
  // Masquerade goes from both backends (the container may have been set up under an earlier config).
  const runner = kernel.runner;
  const rules = async (): Promise<void> => {
    if (cfg.ipMasq)
      await teardownMasquerade(runner, attachmentOf(inv), prevResultOf(inv.config, inv.cniVersion, true)?.ips);
    if (cfg.macspoofchk) await teardownSpoofcheck(runner, spoofRef(inv.containerId, inv.ifName));
  };
  const linkThenLease = async (): Promise<void> => {
    // A dhcp lease is released through the container's interface: the lease goes first there.
    const leaseFirst = ipamUsesInterface(cfg.ipamType);
    if (leaseFirst) await delegate('DEL', cfg.ipamType, inv, { runner });
    const link = await deleteContainerLink(inv.netns, inv.ifName, kernel.rtnl).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (cfg.ipamType !== '' && !leaseFirst) await delegate('DEL', cfg.ipamType, inv, { runner });
    if (link) throw link; // reported after the lease is released anyway
  };
  await concurrently(rules(), linkThenLease());
}
