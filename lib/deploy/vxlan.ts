/**
 * The node's VXLAN device (flannel's vxlan backend, learning off): one device per node bound to
 * its underlay address, MAC derived from the node's name so a restarted installer (or a
 * re-created device) needs no update on the other nodes. Per remote node: a permanent neighbour
 * (its VTEP address → its device MAC) and an FDB entry (that MAC → its underlay address), so no
 * ARP, flooding or learning ever happens on the device. The device, its neighbours and its FDB
 * are ours alone: whatever is there that the plan does not want goes.
 */
import type { Family } from '../addr/ip';
import { sha256hex } from '../sys/hash';
import { ANNOTATION_PREFIX } from './kube';

/** Annotations a node publishes: its device MAC, and the underlay address its tunnel ends at. */
export const MAC_ANNOTATION = `${ANNOTATION_PREFIX}vxlan-mac`;
export const VTEP_ANNOTATION = `${ANNOTATION_PREFIX}vxlan-vtep`;

/** Outer Ethernet-less overhead: IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14; IPv6 adds 20. */
export const overheadOf = (underlay: Family): number => (underlay === 4 ? 50 : 70);

/** A locally administered unicast MAC from the node name: the same on every restart. */
export function vtepMac(nodeName: string): string {
  const b = Buffer.from(sha256hex(`tscni vxlan ${nodeName}`).slice(0, 12), 'hex');
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

export interface VxlanDevice {
  readonly name: string;
  readonly vni: number;
  readonly port: number;
  /** The underlay address packets leave from (this node's InternalIP). */
  readonly local: string;
  /** The link holding `local`. */
  readonly parentIndex: number;
  readonly mtu: number;
  readonly mac: string;
  /** This node's VTEP addresses: its pod CIDRs' network addresses as /32 and /128. */
  readonly addresses: readonly string[];
}

export interface PlannedNeighbour {
  readonly address: string;
  readonly mac: string;
  readonly node: string;
}

export interface PlannedFdb {
  readonly mac: string;
  readonly dst: string;
  readonly node: string;
}

/** What this file needs of lib/netlink's Rtnl (structurally; a fake in unit tests). */
export interface VxlanKernel {
  linkByName(name: string):
    | {
        index: number;
        kind?: string;
        mtu: number;
        mac?: string;
        flags: { up: boolean };
        vxlan?: { vni: number; port?: number; local?: string; parentIndex?: number; learning: boolean };
      }
    | undefined;
  createVxlan(o: {
    name: string;
    vni: number;
    port: number;
    local: string;
    parentIndex: number;
    mtu: number;
    mac: string;
    learning: boolean;
  }): void;
  setLink(index: number, changes: { up?: boolean; mtu?: number; mac?: string }): void;
  deleteLink(index: number): void;
  addrs(filter: { index: number }): Array<{ cidr: string; scope: number }>;
  addAddr(index: number, cidr: string, opts: { nodad?: boolean }): void;
  deleteAddr(index: number, cidr: string): void;
  neighbours(filter: { family: Family; index: number }): Array<{ address: string; mac?: string; permanent: boolean }>;
  replaceNeighbour(index: number, address: string, mac: string): void;
  deleteNeighbour(index: number, address: string): void;
  fdb(index: number): Array<{ mac: string; dst?: string; permanent: boolean }>;
  replaceFdb(index: number, mac: string, dst: string): void;
  deleteFdb(index: number, mac: string, dst?: string): void;
}

/** Why an existing device cannot be kept (recreated instead); '' when it can. */
export function incompatibility(have: ReturnType<VxlanKernel['linkByName']>, want: VxlanDevice): string {
  if (!have) return 'missing';
  const x = have.vxlan;
  if (have.kind !== 'vxlan' || !x) return `a ${have.kind ?? 'physical'} link`;
  if (x.vni !== want.vni) return `VNI ${x.vni}, not ${want.vni}`;
  if (x.port !== want.port) return `port ${x.port ?? 'default'}, not ${want.port}`;
  if (x.local !== want.local) return `local ${x.local ?? 'none'}, not ${want.local}`;
  if (x.parentIndex !== want.parentIndex) return `underlay link ${x.parentIndex ?? 'none'}, not ${want.parentIndex}`;
  if (x.learning) return 'learning on';
  return '';
}

/**
 * Makes the device as planned: kept when compatible (only MAC, MTU, up and addresses fixed, so
 * traffic through it never stops), else deleted and created again. Returns its index and what
 * was done ('created', 'recreated (why)', 'updated (what)', 'unchanged').
 */
export function ensureDevice(k: VxlanKernel, want: VxlanDevice): { index: number; outcome: string } {
  const have = k.linkByName(want.name);
  const why = incompatibility(have, want);
  let outcome = 'unchanged';
  let link = have;
  if (have && why && have.kind !== 'vxlan')
    throw new Error(`link ${want.name} exists and is ${why}, not our VXLAN device: remove or rename it`);
  if (why) {
    if (have) k.deleteLink(have.index);
    k.createVxlan({
      name: want.name,
      vni: want.vni,
      port: want.port,
      local: want.local,
      parentIndex: want.parentIndex,
      mtu: want.mtu,
      mac: want.mac,
      learning: false,
    });
    outcome = have ? `recreated (${why})` : 'created';
    link = k.linkByName(want.name);
    if (!link) throw new Error(`link ${want.name} is gone right after it was created`);
  }
  if (!link) throw new Error(`no link ${want.name}`);
  const fixes: string[] = [];
  const changes: { up?: boolean; mtu?: number; mac?: string } = {};
  if (link.mac !== want.mac) {
    changes.mac = want.mac;
    fixes.push(`mac ${want.mac}`);
  }
  if (link.mtu !== want.mtu) {
    changes.mtu = want.mtu;
    fixes.push(`mtu ${want.mtu}`);
  }
  if (!link.flags.up) {
    changes.up = true;
    if (outcome === 'unchanged') fixes.push('up');
  }
  if (Object.keys(changes).length > 0) k.setLink(link.index, changes);
  const haveAddrs = k.addrs({ index: link.index }).filter((a) => a.scope === 0);
  for (const a of haveAddrs)
    if (!want.addresses.includes(a.cidr)) {
      k.deleteAddr(link.index, a.cidr);
      fixes.push(`address ${a.cidr} removed`);
    }
  for (const cidr of want.addresses)
    if (!haveAddrs.some((a) => a.cidr === cidr)) {
      k.addAddr(link.index, cidr, { nodad: true });
      if (outcome === 'unchanged') fixes.push(`address ${cidr}`);
    }
  if (outcome === 'unchanged' && fixes.length > 0) outcome = `updated (${fixes.join(', ')})`;
  return { index: link.index, outcome };
}

export interface EntryChanges {
  added: string[];
  removed: string[];
  failed: string[];
}

const familyOfAddress = (a: string): Family => (a.includes(':') ? 6 : 4);

/**
 * Adds or replaces the wanted neighbours and FDB entries (nothing removed yet: routes of a
 * node that left go first, see peers.ts).
 */
export function addEntries(
  k: VxlanKernel,
  index: number,
  neighbours: readonly PlannedNeighbour[],
  fdb: readonly PlannedFdb[],
): EntryChanges {
  const ch: EntryChanges = { added: [], removed: [], failed: [] };
  const haveNeigh = [...k.neighbours({ family: 4, index }), ...k.neighbours({ family: 6, index })];
  for (const n of neighbours) {
    if (haveNeigh.some((h) => h.permanent && h.address === n.address && h.mac === n.mac)) continue;
    try {
      k.replaceNeighbour(index, n.address, n.mac);
      ch.added.push(`neighbour ${n.address} lladdr ${n.mac} (node ${n.node})`);
    } catch (e) {
      ch.failed.push(`neighbour ${n.address} lladdr ${n.mac} (node ${n.node}): ${(e as Error).message}`);
    }
  }
  const haveFdb = k.fdb(index);
  for (const f of fdb) {
    if (haveFdb.some((h) => h.mac === f.mac && h.dst === f.dst)) continue;
    try {
      k.replaceFdb(index, f.mac, f.dst);
      ch.added.push(`fdb ${f.mac} dst ${f.dst} (node ${f.node})`);
    } catch (e) {
      ch.failed.push(`fdb ${f.mac} dst ${f.dst} (node ${f.node}): ${(e as Error).message}`);
    }
  }
  return ch;
}

/** Removes the device's permanent neighbours and FDB entries the plan does not want. */
export function removeStaleEntries(
  k: VxlanKernel,
  index: number,
  neighbours: readonly PlannedNeighbour[],
  fdb: readonly PlannedFdb[],
): EntryChanges {
  const ch: EntryChanges = { added: [], removed: [], failed: [] };
  for (const family of [4, 6] as const)
    for (const h of k.neighbours({ family, index })) {
      if (!h.permanent || neighbours.some((n) => n.address === h.address && familyOfAddress(n.address) === family))
        continue;
      try {
        k.deleteNeighbour(index, h.address);
        ch.removed.push(`neighbour ${h.address}`);
      } catch (e) {
        ch.failed.push(`remove neighbour ${h.address}: ${(e as Error).message}`);
      }
    }
  for (const h of k.fdb(index)) {
    if (h.dst === undefined || fdb.some((f) => f.mac === h.mac && f.dst === h.dst)) continue;
    try {
      k.deleteFdb(index, h.mac, h.dst);
      ch.removed.push(`fdb ${h.mac} dst ${h.dst}`);
    } catch (e) {
      ch.failed.push(`remove fdb ${h.mac} dst ${h.dst}: ${(e as Error).message}`);
    }
  }
  return ch;
}
