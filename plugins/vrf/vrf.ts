/**
 * The kernel side of the vrf plugin, on a netlink socket inside the container's namespace: find
 * or create the VRF device, and move an interface into it keeping what the move takes away.
 *
 * Enslaving a link to a VRF cycles it down and up. The kernel keeps its IPv4 addresses but
 * drops its IPv6 ones (unless keep_addr_on_down) and every route through it in the main table;
 * so, as the reference does, global IPv6 addresses missing afterwards are added back (and their
 * local routes awaited in the VRF's table) and the interface's main-table routes of universe
 * scope are replayed into the VRF's table.
 */
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { creationError } from '../../lib/net/link-kind';
import { isErrno, type Addr, type Link, type Route, type RouteSpec, type Rtnl } from '../../lib/netlink';
import { RT_SCOPE_UNIVERSE, RT_TABLE_MAIN } from '../../lib/netlink/constants';
import type { UndoStack } from '../../lib/undo';

const fail = (msg: string, e?: unknown): CniError =>
  new CniError(ErrorCode.Internal, msg, e === undefined ? undefined : e instanceof Error ? e.message : String(e));

/** The VRF `name`, undefined when there is no link of that name; another kind of link is an error. */
export function findVrf(ctr: Rtnl, name: string): Link | undefined {
  const link = ctr.linkByName(name);
  if (link && link.kind !== 'vrf') throw fail(`Netlink ${name} is not a VRF`);
  return link;
}

/** The interfaces enslaved to `vrf`. */
export const portsOf = (ctr: Rtnl, vrf: Link): Link[] => ctr.links().filter((l) => l.masterIndex === vrf.index);

// Table ids a VRF must not take: unspecified, default, main, local.
const RESERVED = new Set([0, 253, 254, 255]);

/** The lowest table id no VRF of this namespace uses (the reference's choice, minus reserved ids). */
export function freeTable(links: readonly Link[]): number {
  const taken = new Set(links.filter((l) => l.kind === 'vrf').map((l) => l.vrfTable));
  let t = 1;
  while (taken.has(t) || RESERVED.has(t)) t++;
  return t;
}

/** Creates the VRF, up. Returns undefined when a concurrent ADD made it first. */
function createVrf(ctr: Rtnl, name: string, table: number): Link | undefined {
  try {
    ctr.createVrf({ name, table: table || freeTable(ctr.links()) });
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return undefined;
    throw creationError('vrf', `could not add VRF ${name}`, e);
  }
  const vrf = findVrf(ctr, name);
  if (!vrf) throw fail(`VRF ${name} vanished right after its creation`);
  try {
    ctr.setUp(vrf.index);
  } catch (e) {
    ctr.deleteLink(vrf.index);
    throw fail(`could not set link up for VRF ${name}`, e);
  }
  return vrf;
}

/**
 * The VRF to join: the existing one (a configured table must be its table), or a new one, up,
 * whose removal is registered for rollback — done only while no other interface joined it.
 */
export function ensureVrf(ctr: Rtnl, name: string, table: number, undo: UndoStack): Link {
  let vrf = findVrf(ctr, name);
  if (!vrf) {
    const made = createVrf(ctr, name, table);
    if (made) {
      undo.push(`delete VRF ${name}`, async () => {
        if (portsOf(ctr, made).length === 0) ctr.deleteLink(made.index);
      });
      return made;
    }
    vrf = findVrf(ctr, name);
    if (!vrf) throw fail(`VRF ${name} vanished right after a concurrent creation`);
  }
  if (table !== 0 && vrf.vrfTable !== table)
    throw fail(`VRF ${name} already exist with different routing table ${vrf.vrfTable ?? 0}`);
  return vrf;
}

const globalV6 = (ctr: Rtnl, index: number): Addr[] =>
  ctr.addrs({ family: 6, index }).filter((a) => a.scope === RT_SCOPE_UNIVERSE);

/** A dumped route as the request that puts it back, in `table`. */
const respec = (r: Route, table: number): RouteSpec => ({
  dst: r.dst,
  gateway: r.gateway,
  oif: r.oif,
  src: r.src,
  metric: r.metric,
  scope: r.scope,
  protocol: r.protocol,
  type: r.type,
  table,
  mtu: r.mtu,
  advmss: r.advmss,
});

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** Re-adds the addresses of `before` that are gone; with `table`, waits for each one's local route there. */
async function restoreAddrs(ctr: Rtnl, link: Link, before: readonly Addr[], table?: number): Promise<void> {
  const now = new Set(globalV6(ctr, link.index).map((a) => a.cidr));
  for (const a of before) {
    if (now.has(a.cidr)) continue;
    try {
      ctr.addAddr(link.index, a.cidr, { nodad: a.flags.nodad, noprefixroute: a.flags.noprefixroute });
    } catch (e) {
      throw fail(`could not restore address ${a.cidr} to ${link.name}`, e);
    }
    if (table === undefined) continue;
    // The kernel puts its local route into the VRF's table once DAD is done: ~2.5 s at most here.
    const want = `${a.address}/128`;
    for (let attempt = 0; ; attempt++) {
      const routes = ctr.routes({ family: 6, table });
      if (routes.some((r) => r.dst === want && r.oif === link.index)) break;
      if (attempt === 8)
        throw fail(`failed getting local/host addresses for ${link.name} in table ${table} with dst ${a.cidr}`);
      await sleep(10 * 2 ** attempt);
    }
  }
}

function replayRoutes(ctr: Rtnl, routes: readonly Route[], table: number): void {
  for (const r of routes) {
    try {
      ctr.replaceRoute(respec(r, table));
    } catch (e) {
      throw fail(`could not add route '${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}' to table ${table}`, e);
    }
  }
}

/**
 * Moves `ifName` into `vrf`. Registers its undo (out of the VRF again, addresses and main-table
 * routes put back) right after the move.
 */
export async function enslave(ctr: Rtnl, vrf: Link, ifName: string, undo: UndoStack): Promise<void> {
  const link = ctr.linkByName(ifName);
  if (!link) throw fail(`could not get link by name ${ifName}`);
  if (link.masterIndex) {
    const master = ctr.linkByIndex(link.masterIndex);
    throw fail(`interface ${ifName} has already a master set: ${master?.name ?? `index ${link.masterIndex}`}`);
  }
  const table = vrf.vrfTable ?? 0;
  const before = globalV6(ctr, link.index);
  const routes = ctr.routes({ oif: link.index }).filter((r) => r.scope === RT_SCOPE_UNIVERSE && !r.multipath);
  try {
    ctr.setLink(link.index, { masterIndex: vrf.index });
  } catch (e) {
    throw fail(`could not set vrf ${vrf.name} as master of ${ifName}`, e);
  }
  undo.push(`take ${ifName} out of VRF ${vrf.name}`, async () => {
    ctr.setLink(link.index, { masterIndex: null });
    await restoreAddrs(ctr, link, before);
    replayRoutes(ctr, routes, RT_TABLE_MAIN);
  });
  await restoreAddrs(ctr, link, before, table);
  replayRoutes(ctr, routes, table);
}
