/** ipvlan CHECK (see lib/sublink/check.ts). */
import type { Invocation } from '../../lib/cni/dispatch';
import { checkSubLink } from '../../lib/sublink/check';
import { loadIpvlanConfig } from './config';

export const check = (inv: Invocation): Promise<void> => checkSubLink(loadIpvlanConfig(inv), inv);
