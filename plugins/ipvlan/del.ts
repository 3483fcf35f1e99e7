/** ipvlan DEL (see lib/sublink/del.ts): needs neither the master nor the container's namespace. */
import type { Invocation } from '../../lib/cni/dispatch';
import { delSubLink } from '../../lib/sublink/del';
import { loadIpvlanDelConfig } from './config';

export const del = (inv: Invocation): Promise<void> => delSubLink(loadIpvlanDelConfig(inv), inv);
