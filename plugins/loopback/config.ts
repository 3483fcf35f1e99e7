/**
 * loopback has no keys of its own (reference: plugins/main/loopback, types.NetConf only). What
 * it reads is the prevResult of a chain, which ADD passes through unchanged.
 */
import type { Invocation } from '../../lib/cni/dispatch';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';

export interface LoopbackConfig {
  /** The previous plugin's result when loopback is chained; ADD then returns it as is. */
  readonly prevResult: Result | undefined;
}

export function loadLoopbackConfig(inv: Invocation): LoopbackConfig {
  return { prevResult: prevResultOf(inv) };
}
