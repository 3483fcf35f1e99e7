/**
 * Routes to the other nodes' pod CIDRs: directly via a node's InternalIP (what kindnetd adds on
 * kind nodes, whose network does not route pod addresses) or through the VXLAN device (see
 * peers.ts). Our routes carry their own protocol number, so a route of a node that left is found
 * and removed, and nobody else's route is touched.
 */
import { parseCIDR, parseIP, type Family } from '../addr/ip';
import type { NodeInfo } from './kube';

/** rtm_protocol of our routes (unassigned in iproute2's rt_protos). */
export const ROUTE_PROTOCOL = 116;

export interface PodRoute {
  readonly dst: string;
  readonly gateway: string;
  readonly node: string;
  /** Through this link with an on-link gateway (the VXLAN device); else the kernel picks the link. */
  readonly device?: string;
}

/** The first of a node's InternalIPs in `family`. */
export const internalIpOf = (n: NodeInfo, family: Family): string | undefined =>
  n.internalIps.find((ip) => parseIP(ip)?.family === family);

export const familyOfCidr = (cidr: string): Family | undefined => parseCIDR(cidr)?.addr.family;

/** For every other node: each pod CIDR via that node's first InternalIP of the same family. */
export function planRoutes(self: string, nodes: readonly NodeInfo[]): PodRoute[] {
  const out: PodRoute[] = [];
  for (const n of nodes) {
    if (n.name === self) continue;
    for (const dst of n.podCidrs) {
      const family = familyOfCidr(dst);
      const gateway = family && internalIpOf(n, family);
      if (gateway) out.push({ dst, gateway, node: n.name });
    }
  }
  return out.sort((a, b) => a.dst.localeCompare(b.dst));
}

/** What the route agent needs of lib/netlink's Rtnl (a fake in unit tests). */
export interface RouteTable {
  routes(filter: { family?: Family }): Array<{ dst: string; gateway?: string; oif?: number; protocol: number }>;
  replaceRoute(spec: { dst: string; gateway: string; protocol: number; oif?: number; onlink?: boolean }): void;
  deleteRoute(spec: { dst: string; protocol: number }): void;
}

export interface RouteChanges {
  added: PodRoute[];
  removed: string[];
  failed: string[];
}

/** How a route reads in reports: `10.244.2.0/24 via 172.18.0.3` (`dev tscni.vxlan` when through the device). */
export const routeText = (r: PodRoute): string =>
  `${r.dst} via ${r.gateway}${r.device ? ` dev ${r.device}` : ''} (node ${r.node})`;

/**
 * Makes our routes exactly `want`: routes no longer wanted go first (a node that left), then
 * missing or different ones are added or replaced. `oifOf` gives a device route's link index.
 * A route the kernel refuses (gateway not on-link) is reported, not fatal.
 */
export function syncRoutes(
  table: RouteTable,
  want: readonly PodRoute[],
  oifOf: (device: string) => number | undefined = () => undefined,
): RouteChanges {
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
    const oif = w.device === undefined ? undefined : oifOf(w.device);
    if (w.device !== undefined && oif === undefined) {
      changes.failed.push(`${routeText(w)}: no link ${w.device}`);
      continue;
    }
    // A direct route must not stay on the device (backend switched), nor a device route leave it.
    const same = (r: (typeof have)[number]): boolean =>
      r.dst === w.dst && r.gateway === w.gateway && (oif === undefined || r.oif === oif);
    if (have.some(same)) continue;
    try {
      table.replaceRoute({
        dst: w.dst,
        gateway: w.gateway,
        protocol: ROUTE_PROTOCOL,
        ...(oif === undefined ? {} : { oif, onlink: true }),
      });
      changes.added.push(w);
    } catch (e) {
      changes.failed.push(`${routeText(w)}: ${(e as Error).message}`);
    }
  }
  return changes;
}
