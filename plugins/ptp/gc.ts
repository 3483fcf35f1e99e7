/** ptp GC: forward to IPAM (the spec's MUST), then drop masquerade rules of stale attachments. */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/invocation';
import { Failures } from '../../lib/cni/errors';
import { validAttachmentsOf, validKeys } from '../../lib/cni/netconf';
import { gcMasquerade } from '../../lib/firewall/ip-masq';
import type { Kernel } from '../../lib/net/kernel';
import { loadPtpConfig } from './config';

export async function gc(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadPtpConfig(inv.config);
  const runner = kernel.runner;
  const failures = new Failures();
  if (cfg.ipamType !== '') await delegate('GC', cfg.ipamType, inv, { runner }).catch(failures.of('IPAM GC'));
  const valid = validAttachmentsOf(inv.config);
  if (valid && cfg.ipMasq) {
    const keep = validKeys(valid);
    await gcMasquerade(runner, inv.networkName, keep).catch(failures.of('masquerade GC'));
  }
  failures.throwIfAny();
}
