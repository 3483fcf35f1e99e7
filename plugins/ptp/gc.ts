/** ptp GC: forward to IPAM (the spec's MUST), then drop masquerade rules of stale attachments. */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/dispatch';
import { Failures } from '../../lib/cni/errors';
import { attachmentKey, validAttachmentsOf } from '../../lib/cni/netconf';
import { gcMasquerade } from '../../lib/firewall/ip-masq';
import type { Kernel } from '../../lib/net/kernel';
import { loadPtpConfig } from './config';

export async function gc(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadPtpConfig(inv);
  const runner = kernel.runner;
  const failures = new Failures();
  if (cfg.ipamType !== '') await delegate('GC', cfg.ipamType, inv, { runner }).catch(failures.of('IPAM GC'));
  const valid = validAttachmentsOf(inv);
  if (valid && cfg.ipMasq) {
    const keep = new Set(valid.map((a) => attachmentKey(a.containerID, a.ifname)));
    await gcMasquerade(runner, inv, keep).catch(failures.of('masquerade GC'));
  }
  failures.throwIfAny();
}
