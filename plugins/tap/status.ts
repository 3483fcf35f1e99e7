/**
 * tap STATUS: this node can make taps (/dev/net/tun is there; code 50 if not, where every ADD
 * would fail), then IPAM's answer.
 */
import { existsSync } from 'node:fs';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { ipamStatus } from '../../lib/link-plugin/ipam';
import type { Kernel } from '../../lib/net/kernel';
import { TUN_DEVICE } from '../../lib/net/tuntap';
import { loadTapConfig } from './config';

export async function status(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadTapConfig(inv);
  if (!existsSync(TUN_DEVICE))
    throw new CniError(ErrorCode.NotAvailable, 'tap is not ready', `${TUN_DEVICE} does not exist (CONFIG_TUN)`);
  await ipamStatus(inv, kernel, cfg.ipamType);
}
