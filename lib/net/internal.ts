/**
 * Internal networks (Docker's `--internal`, podman's `network create --internal`): podman writes
 * such a network as a bridge with `isGateway: false` (no address on the bridge, no default route),
 * and nothing in the conflist tells the chained plugins more. So a bridge network is taken to be
 * internal when its bridge holds no address in any of the container's subnets — the host is not
 * the network's gateway — not counting the address the dnsname plugin itself put there for its
 * resolver (recorded in its state directory, lib/dns/paths.ts). A bridge that does not exist (yet)
 * says nothing: not internal.
 */
import { networkOf, parseCIDR, sameAddr } from '../addr/ip';
import type { Rtnl } from '../netlink';
import { available } from '../sys/libc';
import { openRtnl } from './rtnl';

export function bridgeIsInternal(
  rtnl: Rtnl,
  bridge: string,
  containerCidrs: readonly string[],
  resolverAddresses: readonly string[],
): boolean {
  const link = rtnl.linkByName(bridge);
  if (!link) return false;
  const subnets = containerCidrs.flatMap((c) => {
    const p = parseCIDR(c);
    return p ? [{ net: networkOf(p.addr, p.prefix), prefix: p.prefix }] : [];
  });
  if (subnets.length === 0) return false;
  const own = new Set(resolverAddresses);
  for (const a of rtnl.addrs({ index: link.index })) {
    if (own.has(a.cidr)) continue;
    const p = parseCIDR(a.cidr);
    if (!p) continue;
    if (subnets.some((s) => s.net.family === p.addr.family && sameAddr(networkOf(p.addr, s.prefix), s.net)))
      return false;
  }
  return true;
}

/**
 * bridgeIsInternal on this namespace's kernel. Without the C library (unit tests under Node.js)
 * there is no kernel to ask: not internal.
 */
export function probeInternal(
  bridge: string,
  containerCidrs: readonly string[],
  resolverAddresses: readonly string[],
): boolean {
  if (!available()) return false;
  const rtnl = openRtnl();
  try {
    return bridgeIsInternal(rtnl, bridge, containerCidrs, resolverAddresses);
  } finally {
    rtnl.close();
  }
}
