/** vlan GC: forwarded to IPAM (a vlan link keeps no state of its own; the reference has no GC). */
import type { Invocation } from '../../lib/cni/invocation';
import { ipamGc, ipamTypeOf } from '../../lib/link-plugin/ipam';
import type { Kernel } from '../../lib/net/kernel';

export const gc = (inv: Invocation, kernel: Kernel): Promise<void> =>
  ipamGc(inv, kernel, ipamTypeOf(inv, 'vlan configuration'));
