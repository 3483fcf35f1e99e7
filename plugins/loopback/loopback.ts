/**
 * The kernel side of loopback, on an Rtnl whose socket lives in the container's namespace (a
 * RecordingSocket in unit tests). The interface is always `lo`: CNI_IFNAME is ignored, as in
 * the reference (containerd sends `lo`, other runtimes whatever their default is).
 */
import type { Family } from '../../lib/addr/ip';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { Result } from '../../lib/cni/result/types';
import type { Addr, Link, Rtnl } from '../../lib/netlink';

export const LOOPBACK = 'lo';

/** The loopback link; every network namespace has one, so its absence is a kernel oddity. */
export function loopbackLink(rtnl: Rtnl): Link {
  const lo = rtnl.linkByName(LOOPBACK);
  if (!lo) throw new CniError(ErrorCode.Internal, `failed to find ${LOOPBACK} in the container's namespace`);
  return lo;
}

/** 127.0.0.0/8, ::1, and IPv4-mapped 127.x (what Go's IsLoopback accepts). */
export function isLoopbackAddress(a: Addr): boolean {
  if (a.family === 4) return a.address.startsWith('127.');
  return a.address === '::1' || /^::ffff:127\./i.test(a.address);
}

export interface LoopbackAddrs {
  /** The first address of each family on lo, as CIDRs (`127.0.0.1/8`, `::1/128`). */
  readonly v4?: string;
  readonly v6?: string;
}

/**
 * Sets lo up and reads back what the kernel gave it (127.0.0.1/8 and, with IPv6 on, ::1/128 appear
 * when lo goes up). An address that is not a loopback one is refused, as the reference does: the
 * result would describe lo wrongly.
 */
export function bringUpLoopback(rtnl: Rtnl): LoopbackAddrs {
  const lo = loopbackLink(rtnl);
  rtnl.setUp(lo.index);
  const firstOf = (family: Family): string | undefined => {
    const addrs = rtnl.addrs({ family, index: lo.index });
    const foreign = addrs.find((a) => !isLoopbackAddress(a));
    if (foreign)
      throw new CniError(
        ErrorCode.Internal,
        `loopback interface found with non-loopback address ${JSON.stringify(foreign.address)}`,
      );
    return addrs[0]?.cidr;
  };
  const v4 = firstOf(4);
  const v6 = firstOf(6);
  return { ...(v4 ? { v4 } : {}), ...(v6 ? { v6 } : {}) };
}

/** The result of an unchained loopback ADD: lo with the all-zero MAC and its addresses. */
export function loopbackResult(cniVersion: string, netns: string, addrs: LoopbackAddrs): Result {
  const ips = [addrs.v4, addrs.v6]
    .filter((a): a is string => a !== undefined)
    .map((address) => ({
      interface: 0,
      address,
    }));
  return {
    cniVersion,
    interfaces: [{ name: LOOPBACK, mac: '00:00:00:00:00:00', sandbox: netns }],
    ...(ips.length ? { ips } : {}),
  };
}

/** Sets lo down (DEL). */
export function bringDownLoopback(rtnl: Rtnl): void {
  rtnl.setDown(loopbackLink(rtnl).index);
}

/**
 * CHECK: lo is up, and the loopback addresses an earlier ADD reported for it (interfaces named
 * lo in this sandbox) are still there.
 */
export function checkLoopback(rtnl: Rtnl, netns: string, prev: Result | undefined): void {
  const lo = loopbackLink(rtnl);
  if (!lo.flags.up) throw new CniError(ErrorCode.Internal, 'loopback interface is down');
  const ifaces = prev?.interfaces ?? [];
  const ours = new Set(ifaces.flatMap((i, n) => (i.name === LOOPBACK && i.sandbox === netns ? [n] : [])));
  const wanted = (prev?.ips ?? []).filter((ip) => ip.interface !== undefined && ours.has(ip.interface));
  if (wanted.length === 0) return;
  const present = new Set(rtnl.addrs({ index: lo.index }).map((a) => a.cidr));
  for (const ip of wanted)
    if (!present.has(ip.address))
      throw new CniError(ErrorCode.Internal, `loopback address ${ip.address} is missing from ${LOOPBACK}`);
}
