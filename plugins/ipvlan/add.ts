/**
 * ipvlan ADD: an ipvlan of the master in the container (see lib/sublink/add.ts). Chained after
 * another plugin without IPAM, it takes that plugin's addresses and, with no `master`, its only
 * interface as master, as the reference does.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';
import type { Kernel } from '../../lib/net/kernel';
import { addSubLink } from '../../lib/sublink/add';
import { loadIpvlanConfig } from './config';

export const add = (inv: Invocation, kernel: Kernel): Promise<Result> =>
  addSubLink(loadIpvlanConfig(inv.config), inv, prevResultOf(inv.config, inv.cniVersion), kernel);
