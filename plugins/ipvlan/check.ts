/** ipvlan CHECK (see lib/sublink/check.ts). */
import type { Invocation } from '../../lib/cni/invocation';
import type { Kernel } from '../../lib/net/kernel';
import { checkSubLink } from '../../lib/sublink/check';
import { loadIpvlanConfig } from './config';

export const check = (inv: Invocation, kernel: Kernel): Promise<void> =>
  checkSubLink(loadIpvlanConfig(inv.config), inv, kernel);
