/** macvlan CHECK (see lib/sublink/check.ts). */
import type { Invocation } from '../../lib/cni/invocation';
import type { Kernel } from '../../lib/net/kernel';
import { checkSubLink } from '../../lib/sublink/check';
import { loadMacvlanConfig } from './config';

export const check = (inv: Invocation, kernel: Kernel): Promise<void> =>
  checkSubLink(loadMacvlanConfig(inv.config, inv.cniArgs), inv, kernel);
