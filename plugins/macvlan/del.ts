/** macvlan DEL (see lib/sublink/del.ts): needs neither the master nor the container's namespace. */
import type { Invocation } from '../../lib/cni/invocation';
import type { Kernel } from '../../lib/net/kernel';
import { delSubLink } from '../../lib/sublink/del';
import { loadMacvlanDelConfig } from './config';

export const del = (inv: Invocation, kernel: Kernel): Promise<void> =>
  delSubLink(loadMacvlanDelConfig(inv.config), inv, kernel);
