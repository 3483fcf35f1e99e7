/**
 * vlan STATUS: the master exists on the host (code 50 if not: every ADD would fail; the
 * reference leaves this as a TODO) — with `linkInContainer` it is the container's and cannot be
 * looked at — then IPAM's answer.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { ipamStatus } from '../../lib/link-plugin/ipam';
import type { Kernel } from '../../lib/net/kernel';
import { loadVlanConfig, requireIpam } from './config';

export async function status(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadVlanConfig(inv);
  const ipamType = requireIpam(cfg);
  if (!cfg.linkInContainer) {
    let present: boolean;
    try {
      const host = kernel.rtnl();
      try {
        present = host.linkByName(cfg.master) !== undefined;
      } finally {
        host.close();
      }
    } catch (e) {
      throw new CniError(ErrorCode.NotAvailable, 'netlink is not usable', (e as Error).message);
    }
    if (!present)
      throw new CniError(
        ErrorCode.NotAvailable,
        'vlan is not ready',
        `master ${JSON.stringify(cfg.master)} does not exist`,
      );
  }
  await ipamStatus(inv, kernel, ipamType);
}
