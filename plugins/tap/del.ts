/** tap DEL: the tap, then the lease (see lib/link-plugin/del.ts). */
import type { Invocation } from '../../lib/cni/invocation';
import { delContainerLink } from '../../lib/link-plugin/del';
import { ipamTypeOf } from '../../lib/link-plugin/ipam';
import type { Kernel } from '../../lib/net/kernel';

export const del = (inv: Invocation, kernel: Kernel): Promise<void> =>
  delContainerLink(inv, kernel, ipamTypeOf(inv, 'tap configuration'));
