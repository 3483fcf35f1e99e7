/** ipvlan GC (see lib/sublink/gc.ts). */
import type { Invocation } from '../../lib/cni/dispatch';
import { gcSubLink } from '../../lib/sublink/gc';
import { loadIpvlanDelConfig } from './config';

export const gc = (inv: Invocation): Promise<void> => gcSubLink(loadIpvlanDelConfig(inv), inv);
