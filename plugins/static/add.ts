/**
 * static ADD: the configured addresses, routes and DNS as an IPAM result, in the config's
 * version. Nothing is allocated or recorded, so the same config always gives the same result.
 */
import type { Invocation } from '../../lib/cni/invocation';
import type { Result } from '../../lib/cni/result/types';
import { ipConfigOf, loadStaticConfig } from './config';

export async function add(inv: Invocation): Promise<Result> {
  const conf = loadStaticConfig(inv.config, inv.cniArgs);
  const result: Result = { cniVersion: inv.cniVersion };
  if (conf.addresses.length > 0) result.ips = conf.addresses.map(ipConfigOf);
  if (conf.routes.length > 0) result.routes = [...conf.routes];
  if (conf.dns) result.dns = conf.dns;
  return result;
}
