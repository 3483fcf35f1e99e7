/** macvlan GC (see lib/sublink/gc.ts). */
import type { Invocation } from '../../lib/cni/dispatch';
import { gcSubLink } from '../../lib/sublink/gc';
import { loadMacvlanDelConfig } from './config';

export const gc = (inv: Invocation): Promise<void> => gcSubLink(loadMacvlanDelConfig(inv), inv);
