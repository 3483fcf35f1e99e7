/**
 * sbr configuration (reference: plugins/meta/sbr PluginConf): the optional `table`, and the
 * IPs of the container interface taken from prevResult as the reference picks them (an IP
 * without `interface` counts as this interface's).
 */
import type { NetConfig } from '../../lib/cni/invocation';
import { CniError, ConfigError, ErrorCode } from '../../lib/cni/errors';
import type { IPConfig, Result } from '../../lib/cni/result/types';
import * as t from '../../lib/cni/schema';

const decoder = t.object({ table: t.optional(t.int) });

export interface SbrConfig {
  /** A fixed table for every rule (and no routes of ours); undefined: a free table per address. */
  readonly table: number | undefined;
}

export function loadSbrConfig(config: NetConfig): SbrConfig {
  const { table } = t.parseWith(decoder, config, 'sbr configuration');
  if (table !== undefined && (table < 1 || table > 0xffffffff))
    throw new ConfigError(`invalid table ${table}: must be between 1 and 4294967295`, 'table');
  return { table };
}

/** The IPs of `ifName` in prevResult: its own, and those that name no interface. */
export function ipsOf(prev: Result, ifName: string): IPConfig[] {
  const ifaces = prev.interfaces ?? [];
  return (prev.ips ?? []).filter((ip) => {
    if (ip.interface === undefined) return true;
    const named = ifaces[ip.interface];
    return named === undefined || named.name === ifName;
  });
}

/** ADD's view of prevResult: required, with at least one address for this interface. */
export function requireIps(prev: Result | undefined, ifName: string): { prev: Result; ips: IPConfig[] } {
  if (!prev) throw new ConfigError('This plugin must be called as chained plugin');
  const ips = ipsOf(prev, ifName);
  // The reference only refuses a prevResult without any IP; with none for this interface it
  // would go on and delete the interface's routes without adding any rule.
  if (ips.length === 0)
    throw new CniError(ErrorCode.InvalidNetworkConfig, `No IP addresses supplied on interface: ${ifName}`);
  return { prev, ips };
}
