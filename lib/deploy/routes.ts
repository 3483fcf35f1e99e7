/**
 * Routes to the other nodes' pod CIDRs via their InternalIP (what kindnetd adds on kind nodes,
 * whose network does not route pod addresses). Our routes carry their own protocol number, so a
 * route of a node that left is found and removed, and nobody else's route is touched.
 */
import { parseCIDR, parseIP, type Family } from '../addr/ip';
import type { NodeInfo } from './kube';

/** rtm_protocol of our routes (unassigned in iproute2's rt_protos). */
export const ROUTE_PROTOCOL = 116;

export interface PodRoute {
  readonly dst: string;
  readonly gateway: string;
  readonly node: string;
}

/** For every other node: each pod CIDR via that node's first InternalIP of the same family. */
export function planRoutes(self: string, nodes: readonly NodeInfo[]): PodRoute[] {
  const out: PodRoute[] = [];
  for (const n of nodes) {
    if (n.name === self) continue;
    for (const dst of n.podCidrs) {
      const family = parseCIDR(dst)?.addr.family;
      const gateway = n.internalIps.find((ip) => parseIP(ip)?.family === family);
      if (gateway) out.push({ dst, gateway, node: n.name });
    }
  }
  return out.sort((a, b) => a.dst.localeCompare(b.dst));
}

/** What the route agent needs of lib/netlink's Rtnl (a fake in unit tests). */
export interface RouteTable {
  routes(filter: { family?: Family }): Array<{ dst: string; gateway?: string; protocol: number }>;
  replaceRoute(spec: { dst: string; gateway: string; protocol: number }): void;
  deleteRoute(spec: { dst: string; protocol: number }): void;
}

export interface RouteChanges {
  added: PodRoute[];
  removed: string[];
  failed: string[];
}

/** Makes our routes exactly `want`; a route the kernel refuses (gateway not on-link) is reported, not fatal. */
export function syncRoutes(table: RouteTable, want: readonly PodRoute[]): RouteChanges {
  const have = [...table.routes({ family: 4 }), ...table.routes({ family: 6 })].filter(
    (r) => r.protocol === ROUTE_PROTOCOL,
  );
  const changes: RouteChanges = { added: [], removed: [], failed: [] };
  for (const r of have) {
    if (want.some((w) => w.dst === r.dst)) continue;
    table.deleteRoute({ dst: r.dst, protocol: ROUTE_PROTOCOL });
    changes.removed.push(r.dst);
  }
  for (const w of want) {
    if (have.some((r) => r.dst === w.dst && r.gateway === w.gateway)) continue;
    try {
      table.replaceRoute({ dst: w.dst, gateway: w.gateway, protocol: ROUTE_PROTOCOL });
      changes.added.push(w);
    } catch (e) {
      changes.failed.push(`${w.dst} via ${w.gateway} (node ${w.node}): ${(e as Error).message}`);
    }
  }
  return changes;
}
