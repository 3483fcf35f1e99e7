/**
 * Rtnl: links, addresses, routes, rules, neighbours, FDB entries and traffic control of one
 * network namespace, through one netlink socket.
 * Every method is synchronous (a netlink round trip takes well under a millisecond) and throws
 * NetlinkError on failure; lookups of a missing link return undefined instead.
 */
import {
  RT_TABLE_MAIN,
  RTM_F_CLONED,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWQDISC,
  RTM_NEWROUTE,
  RTM_NEWRULE,
  RTM_NEWTCLASS,
  RTM_NEWTFILTER,
} from './constants';
import { decodeAddr, delAddr, dumpAddrs, newAddr, type Addr, type AddrOptions } from './addrs';
import {
  decodeLink,
  delLink,
  dumpLinks,
  getLinkByIndex,
  getLinkByName,
  newBridge,
  newDummy,
  newIfb,
  newIpvlan,
  newMacvlan,
  newVeth,
  newVlan,
  newVrf,
  newVxlan,
  setBridgePort,
  setLink,
  type BridgeOptions,
  type BridgePortChanges,
  type IfbOptions,
  type IpvlanOptions,
  type Link,
  type LinkChanges,
  type MacvlanOptions,
  type NewLinkCommon,
  type VethOptions,
  type VlanOptions,
  type VrfOptions,
  type VxlanOptions,
} from './links';
import type { NlMessage, Request } from './message';
import {
  decodeFdb,
  decodeNeighbour,
  delFdb,
  delNeighbour,
  dumpFdb,
  dumpNeighbours,
  replaceFdb,
  replaceNeighbour,
  type FdbEntry,
  type Neighbour,
} from './neigh';
import { decodeRoute, delRoute, dumpRoutes, getRoute, newRoute, type Route, type RouteSpec } from './routes';
import { decodeRule, delRule, dumpRules, newRule, type Rule, type RuleSpec } from './rules';
import { NetlinkSocket, isErrno, openNetlink, type NetlinkOptions, type RawSocket } from './socket';
import {
  decodeClass,
  decodeFilter,
  decodeQdisc,
  delQdisc,
  dumpClasses,
  dumpFilters,
  dumpQdiscs,
  getQdisc,
  newHtbClass,
  newQdisc,
  newU32Filter,
  type Filter,
  type HtbClassSpec,
  type Qdisc,
  type QdiscSpec,
  type TcClass,
  type U32FilterSpec,
} from './tc';
import type { Family } from '../addr/ip';

export interface AddrFilter {
  family?: Family;
  index?: number;
}

export interface RouteFilter {
  family?: Family;
  /** A table id, or 'all'; the main table by default. */
  table?: number | 'all';
  oif?: number;
}

export interface RuleFilter {
  family?: Family;
  table?: number;
}

export class Rtnl {
  readonly nl: NetlinkSocket;

  constructor(socket: NetlinkSocket | RawSocket) {
    this.nl = socket instanceof NetlinkSocket ? socket : new NetlinkSocket(socket);
  }

  /** Opens a socket in this namespace, or in the one at `netnsPath` (Bun only). */
  static open(opts: NetlinkOptions & { netnsPath?: string } = {}): Rtnl {
    return new Rtnl(openNetlink(opts));
  }

  close(): void {
    this.nl.close();
  }

  private exec(req: Request): void {
    this.nl.request(req);
  }

  // -------------------------------------------------------------------------------------------
  // Links

  links(): Link[] {
    return this.nl
      .dump(dumpLinks())
      .filter((m) => m.type === RTM_NEWLINK)
      .map(decodeLink);
  }

  linkByName(name: string): Link | undefined {
    return this.getOne(getLinkByName(name));
  }

  linkByIndex(index: number): Link | undefined {
    return this.getOne(getLinkByIndex(index));
  }

  private getOne(req: Request): Link | undefined {
    let replies: NlMessage[];
    try {
      replies = this.nl.request(req);
    } catch (e) {
      if (isErrno(e, 'ENODEV')) return undefined;
      throw e;
    }
    const m = replies.find((r) => r.type === RTM_NEWLINK);
    return m ? decodeLink(m) : undefined;
  }

  createBridge(o: BridgeOptions): void {
    this.exec(newBridge(o));
  }

  /** A veth pair; with `peerNetnsFd` the peer is created directly inside that namespace. */
  createVeth(o: VethOptions): void {
    this.exec(newVeth(o));
  }

  createMacvlan(o: MacvlanOptions): void {
    this.exec(newMacvlan(o));
  }

  createIpvlan(o: IpvlanOptions): void {
    this.exec(newIpvlan(o));
  }

  createVlan(o: VlanOptions): void {
    this.exec(newVlan(o));
  }

  createDummy(o: NewLinkCommon): void {
    this.exec(newDummy(o));
  }

  createVrf(o: VrfOptions): void {
    this.exec(newVrf(o));
  }

  createVxlan(o: VxlanOptions): void {
    this.exec(newVxlan(o));
  }

  createIfb(o: IfbOptions): void {
    this.exec(newIfb(o));
  }

  /** Applies several changes in one request. */
  setLink(index: number, changes: LinkChanges): void {
    this.exec(setLink(index, changes));
  }

  setUp(index: number): void {
    this.setLink(index, { up: true });
  }

  setDown(index: number): void {
    this.setLink(index, { up: false });
  }

  setMtu(index: number, mtu: number): void {
    this.setLink(index, { mtu });
  }

  setMac(index: number, mac: string): void {
    this.setLink(index, { mac });
  }

  /** Enslaves to the bridge `masterIndex`; null releases the link from its master. */
  setMaster(index: number, masterIndex: number | null): void {
    this.setLink(index, { masterIndex });
  }

  /** Moves the link into the namespace open as `netnsFd`. */
  setNetns(index: number, netnsFd: number): void {
    this.setLink(index, { netnsFd });
  }

  setName(index: number, name: string): void {
    this.setLink(index, { name });
  }

  setPromisc(index: number, on: boolean): void {
    this.setLink(index, { promisc: on });
  }

  setAllmulti(index: number, on: boolean): void {
    this.setLink(index, { allmulti: on });
  }

  setTxqlen(index: number, txqlen: number): void {
    this.setLink(index, { txqlen });
  }

  /** Hairpin / isolated / learning of a bridge port (the link must be enslaved to a bridge). */
  setBridgePort(index: number, changes: BridgePortChanges): void {
    this.exec(setBridgePort(index, changes));
  }

  deleteLink(index: number): void {
    this.exec(delLink(index));
  }

  /** deleteLink without blocking the event loop while the kernel takes its time (see requestAsync). */
  async deleteLinkAsync(index: number): Promise<void> {
    await this.nl.requestAsync(delLink(index));
  }

  // -------------------------------------------------------------------------------------------
  // Addresses

  addrs(filter: AddrFilter = {}): Addr[] {
    const out: Addr[] = [];
    for (const m of this.nl.dump(dumpAddrs(filter.family, filter.index))) {
      if (m.type !== RTM_NEWADDR) continue;
      const a = decodeAddr(m);
      // The kernel filters by link too (strict checking); this keeps fakes and old kernels honest.
      if (a && (filter.index === undefined || a.index === filter.index)) out.push(a);
    }
    return out;
  }

  addAddr(index: number, cidr: string, opts: AddrOptions = {}): void {
    this.exec(newAddr(index, cidr, opts));
  }

  deleteAddr(index: number, cidr: string): void {
    this.exec(delAddr(index, cidr));
  }

  // -------------------------------------------------------------------------------------------
  // Routes

  routes(filter: RouteFilter = {}): Route[] {
    const table = filter.table ?? RT_TABLE_MAIN;
    const out: Route[] = [];
    for (const m of this.nl.dump(dumpRoutes(filter.family))) {
      if (m.type !== RTM_NEWROUTE) continue;
      const r = decodeRoute(m);
      if (!r || r.flags & RTM_F_CLONED) continue;
      if (table !== 'all' && r.table !== table) continue;
      if (filter.oif !== undefined && r.oif !== filter.oif) continue;
      out.push(r);
    }
    return out;
  }

  /** The route the kernel would use to reach `address` (ENETUNREACH when there is none). */
  routeTo(address: string): Route | undefined {
    const m = this.nl.request(getRoute(address)).find((r) => r.type === RTM_NEWROUTE);
    return m ? decodeRoute(m) : undefined;
  }

  /** Adds a route; EEXIST when an identical one is there. */
  addRoute(spec: RouteSpec): void {
    this.exec(newRoute(spec));
  }

  /** Adds a route or replaces the one with the same destination, table and metric. */
  replaceRoute(spec: RouteSpec): void {
    this.exec(newRoute(spec, { replace: true }));
  }

  /** Deletes the route matching `spec`; fields left out match anything. ESRCH when none does. */
  deleteRoute(spec: RouteSpec): void {
    this.exec(delRoute(spec));
  }

  // -------------------------------------------------------------------------------------------
  // Policy routing rules

  /** The rules of every family (or one), in the kernel's order (by priority). */
  rules(filter: RuleFilter = {}): Rule[] {
    const out: Rule[] = [];
    for (const m of this.nl.dump(dumpRules(filter.family))) {
      if (m.type !== RTM_NEWRULE) continue;
      const r = decodeRule(m);
      if (r && (filter.table === undefined || r.table === filter.table)) out.push(r);
    }
    return out;
  }

  /** Adds a rule; EEXIST when an identical one is there. */
  addRule(spec: RuleSpec): void {
    this.exec(newRule(spec));
  }

  /** Deletes the first rule matching `spec`; ENOENT when none does. */
  deleteRule(spec: RuleSpec): void {
    this.exec(delRule(spec));
  }

  // -------------------------------------------------------------------------------------------
  // Neighbours (ARP / NDP entries) and forwarding database entries

  /** One family's neighbours, optionally of one link only. */
  neighbours(filter: { family: Family; index?: number }): Neighbour[] {
    const out: Neighbour[] = [];
    for (const m of this.nl.dump(dumpNeighbours(filter.family, filter.index))) {
      if (m.type !== RTM_NEWNEIGH) continue;
      const n = decodeNeighbour(m);
      if (n && (filter.index === undefined || n.index === filter.index)) out.push(n);
    }
    return out;
  }

  /** A permanent IP → MAC entry on link `index` (replacing what the kernel had for that IP). */
  replaceNeighbour(index: number, address: string, mac: string): void {
    this.exec(replaceNeighbour(index, address, mac));
  }

  /** ENOENT when there is no entry for the address. */
  deleteNeighbour(index: number, address: string): void {
    this.exec(delNeighbour(index, address));
  }

  /** The entries of link `index`'s forwarding database. */
  fdb(index: number): FdbEntry[] {
    const out: FdbEntry[] = [];
    for (const m of this.nl.dump(dumpFdb(index))) {
      if (m.type !== RTM_NEWNEIGH) continue;
      const e = decodeFdb(m);
      if (e && e.index === index) out.push(e);
    }
    return out;
  }

  /** A permanent MAC → remote entry in the device's own table (a vxlan device: the tunnel endpoint). */
  replaceFdb(index: number, mac: string, dst: string): void {
    this.exec(replaceFdb(index, mac, dst));
  }

  /** Deletes the MAC's entry (only its remote `dst` when given); ENOENT when there is none. */
  deleteFdb(index: number, mac: string, dst?: string): void {
    this.exec(delFdb(index, mac, dst));
  }

  // -------------------------------------------------------------------------------------------
  // Traffic control

  /** The qdiscs of one link (or of every link). */
  qdiscs(index?: number): Qdisc[] {
    return this.nl
      .dump(dumpQdiscs())
      .filter((m) => m.type === RTM_NEWQDISC)
      .map(decodeQdisc)
      .filter((q) => index === undefined || q.index === index);
  }

  /** The qdisc at `parent` (TC_H_ROOT, TC_H_INGRESS, a class); undefined when there is none. */
  qdiscAt(index: number, parent: number): Qdisc | undefined {
    let replies: NlMessage[];
    try {
      replies = this.nl.request(getQdisc(index, parent));
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'EINVAL')) return undefined;
      throw e;
    }
    const m = replies.find((r) => r.type === RTM_NEWQDISC);
    return m ? decodeQdisc(m) : undefined;
  }

  /** Adds a qdisc; EEXIST when one is already at that parent. */
  addQdisc(q: QdiscSpec): void {
    this.exec(newQdisc(q));
  }

  /** Deletes the qdisc at `parent` (TC_H_ROOT / TC_H_INGRESS); with `handle` only that one (else EINVAL). */
  deleteQdisc(index: number, parent: number, handle = 0): void {
    this.exec(delQdisc(index, parent, handle));
  }

  classes(index: number): TcClass[] {
    return this.nl
      .dump(dumpClasses(index))
      .filter((m) => m.type === RTM_NEWTCLASS)
      .map(decodeClass)
      .filter((c) => c.index === index);
  }

  addHtbClass(c: HtbClassSpec): void {
    this.exec(newHtbClass(c));
  }

  /** The filters under `parent` (a qdisc handle, or TC_H_INGRESS) of one link. */
  filters(index: number, parent: number): Filter[] {
    return this.nl
      .dump(dumpFilters(index, parent))
      .filter((m) => m.type === RTM_NEWTFILTER)
      .map(decodeFilter);
  }

  addU32Filter(f: U32FilterSpec): void {
    this.exec(newU32Filter(f));
  }
}
