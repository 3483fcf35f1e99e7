/**
 * What sbr ADD does to a container's namespace, computed from what is there (pure, so it is
 * pinned by golden tests): per address of the interface, a rule `from <ip>/32 lookup <table>`,
 * a default route through the address's gateway in that table, and the interface's main-table
 * routes that belong to the address copied into it; then those routes leave the main table.
 * This is the reference's doRoutes, step for step.
 */
import type { IPConfig } from '../../lib/cni/result/types';
import { formatIP, parseCIDR, parseIP, type Cidr } from '../../lib/addr/ip';
import { RT_TABLE_MAIN } from '../../lib/netlink/constants';
import type { Route, RouteSpec, Rule, RuleSpec } from '../../lib/netlink';

/** The first table the reference hands out. */
export const FIRST_TABLE = 100;

export type Step =
  | { readonly op: 'addRule'; readonly rule: RuleSpec }
  | { readonly op: 'addRoute'; readonly route: RouteSpec }
  | { readonly op: 'replaceRoute'; readonly route: RouteSpec }
  | { readonly op: 'deleteRoute'; readonly route: RouteSpec };

export interface NamespaceView {
  /** Every rule of every family. */
  readonly rules: readonly Rule[];
  /** Every route of every table and family. */
  readonly routes: readonly Route[];
}

/** The container interface: its index and its routes in the main table. */
export interface LinkView {
  readonly index: number;
  readonly mainRoutes: readonly Route[];
}

/**
 * The first table from `from` on that no rule names and no route is in. The reference looks at
 * main-table routes only, so it can pick a table that still holds routes (and then fails to add
 * its default route there); every table counts here.
 */
export function nextFreeTable(view: NamespaceView, from: number): number {
  const used = new Set<number>([...view.rules.map((r) => r.table), ...view.routes.map((r) => r.table)]);
  let t = from;
  while (used.has(t)) t++;
  return t;
}

/** A source selector for exactly one address: `10.1.1.5/32`, `fd00::5/128`. */
const singleHost = (c: Cidr): string => `${formatIP(c.addr)}/${c.addr.family === 4 ? 32 : 128}`;

const contains = (c: Cidr, text: string | undefined): boolean => {
  if (text === undefined) return false;
  const a = parseIP(text);
  if (!a || a.family !== c.addr.family) return false;
  const bits = a.family === 4 ? 32 : 128;
  const shift = BigInt(bits - c.prefix);
  return a.value >> shift === c.addr.value >> shift;
};

/** A main-table route of the interface, as a request that puts it into `table`. */
const copyOf = (r: Route, table: number): RouteSpec => ({
  dst: r.dst,
  gateway: r.gateway,
  oif: r.oif,
  src: r.src,
  metric: r.metric,
  table,
  scope: r.scope,
  protocol: r.protocol,
  type: r.type,
});

/** A request that deletes exactly `r`. */
export const deletionOf = (r: Route): RouteSpec => ({
  dst: r.dst,
  gateway: r.gateway,
  oif: r.oif,
  src: r.src,
  metric: r.metric,
  table: r.table,
  scope: r.scope,
  protocol: r.protocol,
  type: r.type,
});

/** Steps for the default mode: a table per address (the reference's doRoutes). */
export function planTables(ips: readonly IPConfig[], view: NamespaceView, link: LinkView): Step[] {
  const steps: Step[] = [];
  let table = nextFreeTable(view, FIRST_TABLE);
  for (const ip of ips) {
    const cidr = parseCIDR(ip.address);
    if (!cidr) throw new Error(`invalid address ${ip.address}`);
    steps.push({ op: 'addRule', rule: { src: singleHost(cidr), table } });
    // The previous plugin may have put no default route; the table gets one through the gateway.
    if (ip.gateway)
      steps.push({ op: 'addRoute', route: { dst: 'default', gateway: ip.gateway, oif: link.index, table } });
    for (const r of link.mainRoutes) {
      // A route with neither source nor gateway is the interface's in general: every table gets it.
      const generic = r.src === undefined && r.gateway === undefined;
      if (generic || contains(cidr, r.src) || contains(cidr, r.gateway))
        steps.push({ op: 'replaceRoute', route: copyOf(r, table) });
    }
    table = nextFreeTable(view, table + 1);
  }
  // Only now: two addresses of one subnet both need the subnet's route while they are copied.
  for (const r of link.mainRoutes) steps.push({ op: 'deleteRoute', route: deletionOf(r) });
  return steps;
}

/** Steps for a configured `table`: the rules alone; the operator keeps that table's routes. */
export function planFixedTable(ips: readonly IPConfig[], table: number): Step[] {
  return ips.map((ip) => {
    const cidr = parseCIDR(ip.address);
    if (!cidr) throw new Error(`invalid address ${ip.address}`);
    return { op: 'addRule', rule: { src: singleHost(cidr), table } };
  });
}

/** The interface's routes in the main table, as the reference lists them (multipath ones aside). */
export const mainRoutesOf = (routes: readonly Route[], index: number): Route[] =>
  routes.filter((r) => r.table === RT_TABLE_MAIN && r.oif === index && !r.multipath);
