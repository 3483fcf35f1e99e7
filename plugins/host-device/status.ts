/** host-device STATUS: IPAM's (a device in use by a container is not in the host, so its absence says nothing). */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/invocation';
import type { Kernel } from '../../lib/net/kernel';
import { loadStateConfig } from './config';

export async function status(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadStateConfig(inv.config, inv.env);
  if (cfg.ipamType !== '') await delegate('STATUS', cfg.ipamType, inv, { runner: kernel.runner });
}
