/** ipvlan GC (see lib/sublink/gc.ts). */
import type { Invocation } from '../../lib/cni/invocation';
import type { Kernel } from '../../lib/net/kernel';
import { gcSubLink } from '../../lib/sublink/gc';
import { loadIpvlanDelConfig } from './config';

export const gc = (inv: Invocation, kernel: Kernel): Promise<void> =>
  gcSubLink(loadIpvlanDelConfig(inv.config), inv, kernel);
