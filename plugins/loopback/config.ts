/**
 * loopback has no keys of its own (reference: plugins/main/loopback, types.NetConf only). What
 * it reads is the prevResult of a chain, which ADD passes through unchanged.
 */
import type { NetConfig } from '../../lib/cni/invocation';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';
import type { CniVersion } from '../../lib/cni/version';

export interface LoopbackConfig {
  /** The previous plugin's result when loopback is chained; ADD then returns it as is. */
  readonly prevResult: Result | undefined;
}

export function loadLoopbackConfig(config: NetConfig, cniVersion: CniVersion): LoopbackConfig {
  return { prevResult: prevResultOf(config, cniVersion) };
}
