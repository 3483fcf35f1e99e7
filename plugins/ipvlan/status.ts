/** ipvlan STATUS (see lib/sublink/status.ts). */
import type { Invocation } from '../../lib/cni/dispatch';
import { statusSubLink } from '../../lib/sublink/status';
import { loadIpvlanConfig } from './config';

export const status = (inv: Invocation): Promise<void> => statusSubLink(loadIpvlanConfig(inv), inv);
