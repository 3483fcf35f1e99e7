/**
 * The master (lower) link of macvlan and ipvlan: named in the config, or by default the link of
 * the main table's first default route, as the reference picks it (IPv4 routes come first in
 * its dump).
 */
import { FAMILIES } from '../addr/ip';
import { CniError, ErrorCode } from '../cni/errors';
import type { Rtnl } from '../netlink';

const isDefault = (dst: string): boolean => dst === '0.0.0.0/0' || dst === '::/0';

/** Name of the link the first default route leaves through. */
export function defaultRouteLinkName(rtnl: Rtnl): string {
  for (const family of FAMILIES) {
    for (const r of rtnl.routes({ family })) {
      // A multipath default route has no single link; the reference fails on it, we look further.
      if (!isDefault(r.dst) || r.oif === undefined) continue;
      const link = rtnl.linkByIndex(r.oif);
      if (link) return link.name;
    }
  }
  throw new CniError(ErrorCode.Internal, 'no default route interface found');
}
