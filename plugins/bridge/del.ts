/**
 * bridge DEL: best effort and idempotent. The veth goes with the container end; the lease and
 * the masquerade rules are released by (network, container) even when CNI_NETNS is empty, the
 * namespace is gone or the interface was already removed (the reference leaks the rules then).
 */
import { existsSync } from 'node:fs';
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/dispatch';
import { defaultRunner } from '../../lib/exec/real';
import { spoofRef, teardownSpoofcheck } from '../../lib/firewall/nftables/spoofcheck';
import { openRtnl } from '../../lib/net/rtnl';
import { isErrno } from '../../lib/netlink';
import { concurrently } from '../../lib/undo';
import { markTeardown } from '../../lib/reload/marks';
import { loadBridgeConfig } from './config';
import { attachmentOf, teardownMasquerade } from './masquerade';

/** Deletes the container's interface; a missing namespace or interface is fine. */
async function deleteContainerLink(netns: string, ifName: string): Promise<void> {
  if (netns === '' || !existsSync(netns)) return;
  const ctr = openRtnl(netns);
  try {
    const link = ctr.linkByName(ifName);
    // The kernel takes ~20 ms to delete a veth; the rule teardown runs meanwhile.
    if (link) await ctr.deleteLinkAsync(link.index);
  } catch (e) {
    if (!isErrno(e, 'ENODEV')) throw new Error(`failed to delete ${ifName}: ${(e as Error).message}`);
  } finally {
    ctr.close();
  }
}

export async function del(inv: Invocation): Promise<void> {
  const cfg = loadBridgeConfig(inv);
  // Before any rule goes: tscni reload must not take this for a flush (lib/reload/marks.ts).
  if (cfg.ipMasq || cfg.macspoofchk) markTeardown(inv.env, attachmentOf(inv));
  // The rules first (their programs run while the link goes); the link goes before the lease,
  // so its address is never handed out while still in use.
  // Masquerade goes from both backends (the container may have been set up under an earlier config).
  const runner = defaultRunner();
  const rules = async (): Promise<void> => {
    if (cfg.ipMasq) await teardownMasquerade(runner, inv);
    if (cfg.macspoofchk) await teardownSpoofcheck(runner, spoofRef(inv.containerId, inv.ifName));
  };
  const linkThenLease = async (): Promise<void> => {
    const link = await deleteContainerLink(inv.netns, inv.ifName).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (cfg.ipamType !== '') await delegate('DEL', cfg.ipamType, inv);
    if (link) throw link; // reported after the lease is released anyway
  };
  await concurrently(rules(), linkThenLease());
}
