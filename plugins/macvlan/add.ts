/** macvlan ADD: a macvlan of the master in the container (see lib/sublink/add.ts). */
import type { Invocation } from '../../lib/cni/dispatch';
import type { Result } from '../../lib/cni/result/types';
import { addSubLink } from '../../lib/sublink/add';
import { loadMacvlanConfig } from './config';

export const add = (inv: Invocation): Promise<Result> => addSubLink(loadMacvlanConfig(inv), inv, undefined);
