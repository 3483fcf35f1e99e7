/**
 * How this node's pods reach the other nodes' pods (`tscni install --backend`):
 *  - `routes`: a route to each other node's pod CIDRs via its InternalIP (kindnetd on kind). Only
 *    works when every node is on one layer-2 segment: a gateway behind a router is refused.
 *  - `vxlan`: one VXLAN device (vxlan.ts); each other node's pod CIDRs are routed through it to
 *    that node's VTEP address, encapsulated to its underlay address. Works across routers.
 *  - `auto`: direct routes to nodes whose address is on one of this node's subnets, VXLAN to the
 *    rest (flannel's DirectRouting).
 * The plan is data (planPeers, pinned by golden files): the kernel facts it needs are read first
 * (readFacts) and passed in. syncPeers then makes the kernel match it, in an order that keeps
 * traffic flowing: device, then new neighbours and FDB entries, then routes, then what is stale.
 */
import { formatIP, networkOf, parseCIDR, parseIP, type Family } from '../addr/ip';
import type { NodeInfo } from './kube';
import type { Backend, VxlanSettings } from './options';
import { familyOfCidr, internalIpOf, routeText, syncRoutes, type PodRoute, type RouteTable } from './routes';
import {
  MAC_ANNOTATION,
  VTEP_ANNOTATION,
  addEntries,
  ensureDevice,
  overheadOf,
  removeStaleEntries,
  vtepMac,
  type PlannedFdb,
  type PlannedNeighbour,
  type VxlanDevice,
  type VxlanKernel,
} from './vxlan';

/** What the plan needs to know of the kernel (readFacts). */
export interface KernelFacts {
  /** The link holding this node's underlay address (its first InternalIP). */
  readonly underlay?: { readonly index: number; readonly mtu: number };
  /** Peer addresses the kernel reaches without a gateway (asked only for `auto`). */
  readonly onLink: readonly string[];
}

export interface PeerInput {
  readonly backend: Backend;
  readonly vxlan: VxlanSettings;
  /** This node, with its effective pod CIDRs. */
  readonly self: NodeInfo;
  readonly nodes: readonly NodeInfo[];
}

export interface PeerPlan {
  readonly backend: Backend;
  readonly device?: VxlanDevice;
  readonly routes: PodRoute[];
  readonly neighbours: PlannedNeighbour[];
  readonly fdb: PlannedFdb[];
  /** The pods' MTU through the device (the underlay's less the encapsulation). */
  readonly podMtu?: number;
  /** What this node's object should say (null: remove). */
  readonly annotations: Readonly<Record<string, string | null>>;
  /** Other nodes (or pod CIDRs of theirs) left out, and why. */
  readonly notes: string[];
}

/** The address this node's tunnel ends at: its first InternalIP (the cluster's primary family). */
export const underlayIpOf = (self: NodeInfo): string | undefined => self.internalIps[0];

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A peer's published MAC and VTEP address (its annotations), when well-formed. */
export function publishedVtep(n: NodeInfo, family: Family): { mac?: string; vtep?: string } {
  const mac = n.annotations?.[MAC_ANNOTATION]?.toLowerCase();
  const vtep = n.annotations?.[VTEP_ANNOTATION];
  const out: { mac?: string; vtep?: string } = {};
  // A multicast MAC would make the device flood; anything odd is ignored.
  if (mac && MAC_RE.test(mac) && (parseInt(mac.slice(0, 2), 16) & 1) === 0) out.mac = mac;
  const ip = vtep === undefined ? undefined : parseIP(vtep);
  if (ip && ip.family === family) out.vtep = formatIP(ip);
  else {
    const fallback = internalIpOf(n, family);
    if (fallback) out.vtep = fallback;
  }
  return out;
}

/** A pod CIDR's network address: the VTEP address a node puts on its device for that family. */
export function vtepAddressOf(cidr: string): string | undefined {
  const c = parseCIDR(cidr);
  return c ? formatIP(networkOf(c.addr, c.prefix)) : undefined;
}

/** The addresses whose on-link state `auto` needs: every peer's InternalIP of each of its pod CIDRs' families. */
export function onLinkCandidates(input: PeerInput): string[] {
  if (input.backend !== 'auto') return [];
  const out = new Set<string>();
  for (const n of input.nodes) {
    if (n.name === input.self.name) continue;
    for (const c of n.podCidrs) {
      const f = familyOfCidr(c);
      const ip = f && internalIpOf(n, f);
      if (ip) out.add(ip);
    }
  }
  return [...out].sort();
}

export function planPeers(input: PeerInput, facts: KernelFacts): PeerPlan {
  const { backend, self } = input;
  const notes: string[] = [];
  const routes: PodRoute[] = [];
  const neighbours: PlannedNeighbour[] = [];
  const fdb: PlannedFdb[] = [];
  if (backend === 'routes') {
    for (const n of [...input.nodes].sort((a, b) => a.name.localeCompare(b.name))) {
      if (n.name === self.name) continue;
      for (const dst of n.podCidrs) {
        const family = familyOfCidr(dst);
        const gateway = family && internalIpOf(n, family);
        if (gateway) routes.push({ dst, gateway, node: n.name });
        else notes.push(`node ${n.name}: no IPv${family} InternalIP for ${dst}`);
      }
    }
    return {
      backend,
      routes: routes.sort((a, b) => a.dst.localeCompare(b.dst)),
      neighbours,
      fdb,
      annotations: { [MAC_ANNOTATION]: null, [VTEP_ANNOTATION]: null },
      notes,
    };
  }

  const local = underlayIpOf(self);
  const localIp = local === undefined ? undefined : parseIP(local);
  if (!local || !localIp) throw new Error(`node ${self.name} has no InternalIP to end the VXLAN tunnel at`);
  if (!facts.underlay) throw new Error(`no link of this node holds its InternalIP ${local}`);
  const family = localIp.family;
  const mtu = facts.underlay.mtu - overheadOf(family);
  const device: VxlanDevice = {
    name: input.vxlan.device,
    vni: input.vxlan.vni,
    port: input.vxlan.port,
    local,
    parentIndex: facts.underlay.index,
    mtu,
    mac: vtepMac(self.name),
    addresses: self.podCidrs.flatMap((c) => {
      const a = vtepAddressOf(c);
      return a ? [`${a}/${a.includes(':') ? 128 : 32}`] : [];
    }),
  };

  for (const n of [...input.nodes].sort((a, b) => a.name.localeCompare(b.name))) {
    if (n.name === self.name) continue;
    const peer = publishedVtep(n, family);
    let tunnelled = false;
    for (const dst of n.podCidrs) {
      const f = familyOfCidr(dst);
      const direct = f && internalIpOf(n, f);
      if (backend === 'auto' && direct && facts.onLink.includes(direct)) {
        routes.push({ dst, gateway: direct, node: n.name });
        continue;
      }
      if (!peer.mac) {
        notes.push(`node ${n.name}: no VXLAN MAC published (${MAC_ANNOTATION}) yet; ${dst} left out`);
        continue;
      }
      if (!peer.vtep) {
        notes.push(`node ${n.name}: no IPv${family} address to tunnel to; ${dst} left out`);
        continue;
      }
      const gateway = vtepAddressOf(dst);
      if (!gateway) continue;
      routes.push({ dst, gateway, node: n.name, device: device.name });
      neighbours.push({ address: gateway, mac: peer.mac, node: n.name });
      tunnelled = true;
    }
    if (tunnelled && peer.mac && peer.vtep) fdb.push({ mac: peer.mac, dst: peer.vtep, node: n.name });
  }
  return {
    backend,
    device,
    routes: routes.sort((a, b) => a.dst.localeCompare(b.dst)),
    neighbours,
    fdb,
    podMtu: mtu,
    annotations: { [MAC_ANNOTATION]: device.mac, [VTEP_ANNOTATION]: local },
    notes,
  };
}

/** What the peers step needs of lib/netlink's Rtnl. */
export interface PeerKernel extends RouteTable, VxlanKernel {
  addrs(filter: { index?: number }): Array<{ index: number; address: string; cidr: string; scope: number }>;
  linkByIndex(index: number): { mtu: number } | undefined;
  routeTo(address: string): { gateway?: string; type: number } | undefined;
}

/** Reads what planPeers needs: the underlay link, and which peers are on-link (auto only). */
export function readFacts(k: PeerKernel, input: PeerInput): KernelFacts {
  if (input.backend === 'routes') return { onLink: [] };
  const local = underlayIpOf(input.self);
  const addr = local === undefined ? undefined : k.addrs({}).find((a) => a.address === local);
  const link = addr ? k.linkByIndex(addr.index) : undefined;
  const onLink = onLinkCandidates(input).filter((ip) => {
    try {
      const r = k.routeTo(ip);
      // RTN_UNICAST without a gateway: the peer is on one of our subnets.
      return r !== undefined && r.type === 1 && r.gateway === undefined;
    } catch {
      return false;
    }
  });
  return { ...(addr && link ? { underlay: { index: addr.index, mtu: link.mtu } } : {}), onLink };
}

export interface PeerReport {
  /** One line per change (or failure); nothing when all was in place. */
  lines: string[];
  failed: number;
}

/**
 * Makes the kernel match the plan. The device (or its absence) is a step that throws; a single
 * peer's entry or route the kernel refuses is reported and counted, not fatal.
 */
export function syncPeers(k: PeerKernel, plan: PeerPlan, deviceName: string): PeerReport {
  const lines: string[] = [];
  let failed = 0;
  let index: number | undefined;
  if (plan.device) {
    const d = plan.device;
    const { index: i, outcome } = ensureDevice(k, d);
    index = i;
    if (outcome !== 'unchanged')
      lines.push(
        `vxlan ${d.name} (VNI ${d.vni}, port ${d.port}, local ${d.local}, mtu ${d.mtu}, mac ${d.mac}): ${outcome}`,
      );
    const added = addEntries(k, i, plan.neighbours, plan.fdb);
    lines.push(...added.added.map((l) => `${l}: added`), ...added.failed.map((l) => `${l}: failed`));
    failed += added.failed.length;
  } else {
    const old = k.linkByName(deviceName);
    if (old?.kind === 'vxlan') {
      k.deleteLink(old.index);
      lines.push(`vxlan ${deviceName}: removed (backend ${plan.backend})`);
    }
  }
  const ch = syncRoutes(k, plan.routes, (name) => (name === plan.device?.name ? index : undefined));
  for (const r of ch.added) lines.push(`route ${routeText(r)}: added`);
  for (const r of ch.removed) lines.push(`route ${r}: removed`);
  for (const f of ch.failed) lines.push(`route ${f}: failed`);
  failed += ch.failed.length;
  if (index !== undefined) {
    const stale = removeStaleEntries(k, index, plan.neighbours, plan.fdb);
    lines.push(...stale.removed.map((l) => `${l}: removed`), ...stale.failed.map((l) => `${l}: failed`));
    failed += stale.failed.length;
  }
  return { lines, failed };
}
