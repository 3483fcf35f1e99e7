/**
 * The host-local leases an attachment's addresses must still hold (for `tscni reload`, which
 * restores rules only for containers whose leases still name them). Empty for another IPAM.
 */
import type { NetConfig } from '../../lib/cni/invocation';
import type { IPConfig } from '../../lib/cni/result/types';
import { formatIP, parseCIDR } from '../../lib/addr/ip';
import type { LeaseRef } from '../../lib/reload/types';
import { loadStoreConfig } from './config';

export function hostLocalLeaseRefs(config: NetConfig, ipamType: string, ips: readonly IPConfig[]): LeaseRef[] {
  if (ipamType !== 'host-local') return [];
  const { dataDir } = loadStoreConfig(config);
  return ips.flatMap((ip) => {
    const c = parseCIDR(ip.address);
    return c ? [{ dataDir, ip: formatIP(c.addr) }] : [];
  });
}
