/** loopback STATUS: ready whenever the kernel's netlink interface answers. */
import type { Invocation } from '../../lib/cni/dispatch';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { openRtnl } from '../../lib/net/rtnl';

export async function status(_inv: Invocation): Promise<void> {
  try {
    const host = openRtnl();
    try {
      host.linkByName('lo');
    } finally {
      host.close();
    }
  } catch (e) {
    throw new CniError(ErrorCode.NotAvailable, 'netlink is not usable', (e as Error).message);
  }
}
