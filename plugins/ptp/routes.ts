/**
 * ptp's addressing, as the reference lays it out. The veth is meant to be point-to-point, but
 * veth has no IFF_POINTOPOINT, so: the container keeps its address with the IPAM prefix (say
 * 10.1.1.5/24), the kernel's on-link route for that prefix is replaced by
 * `<gw>/32 dev eth0 scope link src <ip>` and `<prefix> via <gw> src <ip>` — everything, also the
 * container's neighbours, goes through the gateway, which is the host end of the veth
 * (`<gw>/32` on it, shared by every host veth of the network); the host reaches the container
 * by a `<ip>/32 dev <veth> scope host` route.
 */
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { IPConfig } from '../../lib/cni/result/types';
import { formatCIDR, formatIP, networkOf, parseCIDR, parseIP, bitsOf } from '../../lib/addr/ip';
import { isErrno, type Rtnl } from '../../lib/netlink';
import { RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE } from '../../lib/netlink/constants';

export interface PtpAddress {
  /** 10.1.1.5 */
  readonly ip: string;
  /** 10.1.1.0/24 */
  readonly subnet: string;
  /** 10.1.1.1 */
  readonly gateway: string;
  /** 32 or 128 */
  readonly hostBits: number;
}

/** Each IPAM address with its subnet and gateway; ptp cannot route without a gateway. */
export function ptpAddresses(ips: readonly IPConfig[]): PtpAddress[] {
  return ips.map((ip) => {
    const c = parseCIDR(ip.address);
    if (!c) throw new CniError(ErrorCode.Internal, `IPAM returned an invalid address ${ip.address}`);
    const gw = ip.gateway ? parseIP(ip.gateway) : undefined;
    if (!gw || gw.family !== c.addr.family)
      throw new CniError(ErrorCode.Internal, `ptp needs a gateway for ${ip.address}, and IPAM returned none`);
    return {
      ip: formatIP(c.addr),
      subnet: formatCIDR(networkOf(c.addr, c.prefix), c.prefix),
      gateway: formatIP(gw),
      hostBits: bitsOf(c.addr.family),
    };
  });
}

/** Inside the container, after the addresses are up: the on-link prefix route becomes routes via the gateway. */
export function routeViaGateway(ctr: Rtnl, index: number, addrs: readonly PtpAddress[]): void {
  for (const a of addrs) {
    try {
      ctr.deleteRoute({ dst: a.subnet, oif: index });
    } catch (e) {
      if (!isErrno(e, 'ESRCH'))
        throw new CniError(ErrorCode.Internal, `failed to delete route ${a.subnet}`, (e as Error).message);
    }
    ctr.addRoute({ dst: `${a.gateway}/${a.hostBits}`, oif: index, scope: RT_SCOPE_LINK, src: a.ip });
    ctr.addRoute({ dst: a.subnet, gateway: a.gateway, oif: index, scope: RT_SCOPE_UNIVERSE, src: a.ip });
  }
}

/** On the host end: the gateway address, and a host route to the container's address. */
export function hostSide(host: Rtnl, hostIndex: number, addrs: readonly PtpAddress[]): void {
  for (const a of addrs) {
    try {
      host.addAddr(hostIndex, `${a.gateway}/${a.hostBits}`);
    } catch (e) {
      if (!isErrno(e, 'EEXIST'))
        throw new CniError(
          ErrorCode.Internal,
          `failed to add IP addr ${a.gateway}/${a.hostBits} to veth`,
          (e as Error).message,
        );
    }
    try {
      host.addRoute({ dst: `${a.ip}/${a.hostBits}`, oif: hostIndex, scope: RT_SCOPE_HOST });
    } catch (e) {
      if (!isErrno(e, 'EEXIST'))
        throw new CniError(ErrorCode.Internal, 'failed to add route on host', (e as Error).message);
    }
  }
}
