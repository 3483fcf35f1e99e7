/** dummy STATUS: IPAM's answer (the reference's). */
import type { Invocation } from '../../lib/cni/invocation';
import { ipamStatus } from '../../lib/link-plugin/ipam';
import type { Kernel } from '../../lib/net/kernel';
import { loadDummyIpamType } from './config';

export const status = (inv: Invocation, kernel: Kernel): Promise<void> =>
  ipamStatus(inv, kernel, loadDummyIpamType(inv));
