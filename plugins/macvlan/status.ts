/** macvlan STATUS (see lib/sublink/status.ts). */
import type { Invocation } from '../../lib/cni/invocation';
import type { Kernel } from '../../lib/net/kernel';
import { statusSubLink } from '../../lib/sublink/status';
import { loadMacvlanConfig } from './config';

export const status = (inv: Invocation, kernel: Kernel): Promise<void> =>
  statusSubLink(loadMacvlanConfig(inv.config, inv.cniArgs), inv, kernel);
