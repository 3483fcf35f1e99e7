/** bridge STATUS: the kernel's netlink interface must answer; then whatever the IPAM plugin says. */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { Kernel } from '../../lib/net/kernel';
import { loadBridgeConfig } from './config';

export async function status(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadBridgeConfig(inv.config, inv.cniArgs);
  try {
    const host = kernel.rtnl();
    host.linkByName('lo');
    host.close();
  } catch (e) {
    throw new CniError(ErrorCode.NotAvailable, 'netlink is not usable', (e as Error).message);
  }
  if (cfg.ipamType !== '') await delegate('STATUS', cfg.ipamType, inv, { runner: kernel.runner });
}
