/**
 * bridge GC: forward to IPAM (the spec's MUST), then drop masquerade rules (both backends) and
 * spoof checks of stale attachments.
 */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/dispatch';
import { attachmentKey, validAttachmentsOf } from '../../lib/cni/netconf';
import { gcSpoofcheck, spoofRef } from '../../lib/firewall/nftables/spoofcheck';
import { gcMasquerade } from '../../lib/firewall/ip-masq';
import type { Kernel } from '../../lib/net/kernel';
import { loadBridgeConfig } from './config';

export async function gc(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadBridgeConfig(inv);
  const runner = kernel.runner;
  const errors: string[] = [];
  if (cfg.ipamType !== '') {
    await delegate('GC', cfg.ipamType, inv, { runner }).catch((e: unknown) =>
      errors.push(`IPAM GC: ${(e as Error).message}`),
    );
  }
  const valid = validAttachmentsOf(inv);
  if (valid && cfg.ipMasq) {
    const keep = new Set(valid.map((a) => attachmentKey(a.containerID, a.ifname)));
    await gcMasquerade(runner, inv, keep).catch((e: unknown) => errors.push(`masquerade GC: ${(e as Error).message}`));
  }
  if (valid && cfg.macspoofchk) {
    const keep = new Set(valid.map((a) => spoofRef(a.containerID, a.ifname)));
    await gcSpoofcheck(runner, keep).catch((e: unknown) => errors.push(`spoof check GC: ${(e as Error).message}`));
  }
  if (errors.length > 0) throw new Error(errors.join('; '));
}
