/** Picking parts of a result, as the plugins that read their prevResult need them. */
import type { IPConfig, Result } from './types';

/**
 * The addresses of the interface at `index` of `interfaces`, with those that name no interface
 * (a result may leave `interface` out). An index of -1 (not found) keeps only the latter.
 */
export function ipsOfInterface(prev: Result, index: number): IPConfig[] {
  return (prev.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === index);
}
