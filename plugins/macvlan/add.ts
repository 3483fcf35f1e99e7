/** macvlan ADD: a macvlan of the master in the container (see lib/sublink/add.ts). */
import type { Invocation } from '../../lib/cni/invocation';
import type { Result } from '../../lib/cni/result/types';
import type { Kernel } from '../../lib/net/kernel';
import { addSubLink } from '../../lib/sublink/add';
import { loadMacvlanConfig } from './config';

export const add = (inv: Invocation, kernel: Kernel): Promise<Result> =>
  addSubLink(loadMacvlanConfig(inv.config, inv.cniArgs), inv, undefined, kernel);
