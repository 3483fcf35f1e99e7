/** loopback STATUS: ready whenever the kernel's netlink interface answers. */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { Kernel } from '../../lib/net/kernel';

export async function status(_inv: Invocation, kernel: Kernel): Promise<void> {
  try {
    const host = kernel.rtnl();
    try {
      host.linkByName('lo');
    } finally {
      host.close();
    }
  } catch (e) {
    throw new CniError(ErrorCode.NotAvailable, 'netlink is not usable', (e as Error).message);
  }
}
