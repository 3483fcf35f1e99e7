/** ptp STATUS: the kernel's netlink interface must answer; then whatever the IPAM plugin says. */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { Kernel } from '../../lib/net/kernel';
import { loadPtpConfig, requireIpam } from './config';

export async function status(inv: Invocation, kernel: Kernel): Promise<void> {
  const ipamType = requireIpam(loadPtpConfig(inv.config));
  try {
    const host = kernel.rtnl();
    host.linkByName('lo');
    host.close();
  } catch (e) {
    throw new CniError(ErrorCode.NotAvailable, 'netlink is not usable', (e as Error).message);
  }
  await delegate('STATUS', ipamType, inv, { runner: kernel.runner });
}
