/** ipvlan STATUS (see lib/sublink/status.ts). */
import type { Invocation } from '../../lib/cni/invocation';
import type { Kernel } from '../../lib/net/kernel';
import { statusSubLink } from '../../lib/sublink/status';
import { loadIpvlanConfig } from './config';

export const status = (inv: Invocation, kernel: Kernel): Promise<void> =>
  statusSubLink(loadIpvlanConfig(inv.config), inv, kernel);
