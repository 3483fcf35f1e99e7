/**
 * static CHECK: every configured address is among prevResult's IPs, with the configured gateway.
 * The reference only compares the gateways of the addresses it finds, so an address missing
 * from prevResult passes there; here it fails.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import { formatIP, parseCIDR, parseIP, sameAddr } from '../../lib/addr/ip';
import { loadStaticConfig } from './config';

export async function check(inv: Invocation): Promise<void> {
  const conf = loadStaticConfig(inv.config, inv.cniArgs);
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing');
  const ips = prev.ips ?? [];
  for (const want of conf.addresses) {
    const found = ips.find((ip) => {
      const c = parseCIDR(ip.address);
      return c !== undefined && sameAddr(c.addr, want.cidr.addr);
    });
    if (!found)
      throw new CniError(
        ErrorCode.Internal,
        `static: address ${formatIP(want.cidr.addr)} is not in prevResult for interface ${inv.ifName}`,
      );
    const gw = found.gateway ? parseIP(found.gateway) : undefined;
    if (want.gateway && !(gw && sameAddr(gw, want.gateway)))
      throw new CniError(
        ErrorCode.Internal,
        `static: Failed to match addr ${formatIP(want.cidr.addr)} on interface ${inv.ifName}`,
      );
  }
}
