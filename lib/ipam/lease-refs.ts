/**
 * The host-local leases an attachment's addresses must still hold (for `tscni reload`, which
 * restores rules only for containers whose leases still name them). Empty for another IPAM.
 */
import type { NetConfig } from '../cni/invocation';
import type { IPConfig } from '../cni/result/types';
import { formatIP, parseCIDR } from '../addr/ip';
import { loadStoreConfig } from './config';

/** A lease that must still name the attachment. */
export interface LeaseRef {
  readonly dataDir: string;
  readonly ip: string;
}

export function hostLocalLeaseRefs(config: NetConfig, ipamType: string, ips: readonly IPConfig[]): LeaseRef[] {
  if (ipamType !== 'host-local') return [];
  const { dataDir } = loadStoreConfig(config);
  return ips.flatMap((ip) => {
    const c = parseCIDR(ip.address);
    return c ? [{ dataDir, ip: formatIP(c.addr) }] : [];
  });
}
