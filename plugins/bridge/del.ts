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
import { ipTry } from '../../lib/net/ip';
import { concurrently } from '../../lib/undo';
import { loadBridgeConfig } from './config';
import { teardownMasquerade } from './masquerade';

export async function del(inv: Invocation): Promise<void> {
  const cfg = loadBridgeConfig(inv);
  const errors: string[] = [];
  // The link goes before the lease (so its address is never handed out while still in use);
  // rule removal is independent of both and runs alongside.
  const linkThenLease = async (): Promise<void> => {
    if (inv.netns !== '' && existsSync(inv.netns)) {
      const r = await ipTry(['link', 'del', inv.ifName], inv.netns);
      if (r.exitCode !== 0 && !/Cannot find device|does not exist|No such/i.test(r.stderr))
        errors.push(`failed to delete ${inv.ifName}: ${r.stderr.trim()}`);
    }
    if (cfg.ipamType !== '') await delegate('DEL', cfg.ipamType, inv);
  };
  // Masquerade goes from both backends (the container may have been set up under an earlier config).
  const runner = defaultRunner();
  const rules = async (): Promise<void> => {
    if (cfg.ipMasq) await teardownMasquerade(runner, inv);
    if (cfg.macspoofchk) await teardownSpoofcheck(runner, spoofRef(inv.containerId, inv.ifName));
  };
  await concurrently(linkThenLease(), rules());
  if (errors.length > 0) throw new Error(errors.join('; '));
}
