/** macvlan CHECK (see lib/sublink/check.ts). */
import type { Invocation } from '../../lib/cni/dispatch';
import { checkSubLink } from '../../lib/sublink/check';
import { loadMacvlanConfig } from './config';

export const check = (inv: Invocation): Promise<void> => checkSubLink(loadMacvlanConfig(inv), inv);
