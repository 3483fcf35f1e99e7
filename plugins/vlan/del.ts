/**
 * vlan DEL: the link, then the lease (see lib/link-plugin/del.ts). Unlike the reference it needs
 * neither the master nor a valid `vlanId`/`mtu`: a DEL after the master went still cleans up.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { delContainerLink } from '../../lib/link-plugin/del';
import { ipamTypeOf } from '../../lib/link-plugin/ipam';
import type { Kernel } from '../../lib/net/kernel';

export const del = (inv: Invocation, kernel: Kernel): Promise<void> =>
  delContainerLink(inv, kernel, ipamTypeOf(inv, 'vlan configuration'));
