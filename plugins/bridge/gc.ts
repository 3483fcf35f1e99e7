/**
 * bridge GC: forward to IPAM (the spec's MUST), then drop masquerade rules (both backends) and
 * spoof checks of stale attachments.
 */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/invocation';
import { Failures } from '../../lib/cni/errors';
import { validAttachmentsOf, validKeys } from '../../lib/cni/netconf';
import { gcSpoofcheck, spoofRef } from '../../lib/firewall/nftables/spoofcheck';
import { gcMasquerade } from '../../lib/firewall/ip-masq';
import type { Kernel } from '../../lib/net/kernel';
import { loadBridgeConfig } from './config';

export async function gc(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadBridgeConfig(inv.config, inv.cniArgs);
  const runner = kernel.runner;
  const failures = new Failures();
  if (cfg.ipamType !== '') await delegate('GC', cfg.ipamType, inv, { runner }).catch(failures.of('IPAM GC'));
  const valid = validAttachmentsOf(inv.config);
  if (valid && cfg.ipMasq) {
    const keep = validKeys(valid);
    await gcMasquerade(runner, inv.networkName, keep).catch(failures.of('masquerade GC'));
  }
  if (valid && cfg.macspoofchk) {
    const keep = new Set(valid.map((a) => spoofRef(a.containerID, a.ifname)));
    await gcSpoofcheck(runner, keep).catch(failures.of('spoof check GC'));
  }
  failures.throwIfAny();
}
