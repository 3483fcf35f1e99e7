/** macvlan STATUS (see lib/sublink/status.ts). */
import type { Invocation } from '../../lib/cni/dispatch';
import { statusSubLink } from '../../lib/sublink/status';
import { loadMacvlanConfig } from './config';

export const status = (inv: Invocation): Promise<void> => statusSubLink(loadMacvlanConfig(inv), inv);
