/**
 * An in-memory node network namespace for the installer's unit tests (test-only module): links,
 * addresses, routes, neighbours and FDB entries as plain data behind the PeerKernel seam
 * (lib/deploy/peers.ts), with every change recorded as one line, so a test asserts what a sync
 * did and that a second sync does nothing.
 */
import type { Family } from '../addr/ip';
import type { PeerKernel } from '../deploy/peers';

interface FakeLink {
  index: number;
  name: string;
  kind?: string;
  mtu: number;
  mac?: string;
  flags: { up: boolean };
  vxlan?: { vni: number; port?: number; local?: string; parentIndex?: number; learning: boolean };
}

interface FakeRoute {
  dst: string;
  gateway?: string;
  oif?: number;
  protocol: number;
  onlink?: boolean;
}

export class FakeNodeNet implements PeerKernel {
  readonly ops: string[] = [];
  links: FakeLink[] = [];
  addresses: Array<{ index: number; cidr: string; scope: number }> = [];
  table: FakeRoute[] = [];
  neigh: Array<{ index: number; address: string; mac: string }> = [];
  fdbTable: Array<{ index: number; mac: string; dst: string }> = [];
  /** Peer addresses `routeTo` answers as on-link (no gateway). */
  onLink = new Set<string>();
  private nextIndex = 10;
  closed = false;

  /** A link such as the underlay `eth0` with an address. */
  addLink(name: string, mtu: number, cidrs: readonly string[] = []): number {
    const index = this.nextIndex++;
    this.links.push({ index, name, mtu, flags: { up: true } });
    for (const cidr of cidrs) this.addresses.push({ index, cidr, scope: 0 });
    return index;
  }

  private fail(what: string): never {
    throw Object.assign(new Error(`${what}: No such file or directory (ENOENT)`), { errno: 'ENOENT' });
  }

  linkByName(name: string): FakeLink | undefined {
    return this.links.find((l) => l.name === name);
  }
  linkByIndex(index: number): FakeLink | undefined {
    return this.links.find((l) => l.index === index);
  }
  createVxlan(o: {
    name: string;
    vni: number;
    port: number;
    local: string;
    parentIndex: number;
    mtu: number;
    mac: string;
    learning: boolean;
  }): void {
    if (this.linkByName(o.name)) throw new Error(`link ${o.name}: File exists (EEXIST)`);
    const index = this.nextIndex++;
    this.links.push({
      index,
      name: o.name,
      kind: 'vxlan',
      mtu: o.mtu,
      mac: o.mac,
      flags: { up: false },
      vxlan: { vni: o.vni, port: o.port, local: o.local, parentIndex: o.parentIndex, learning: o.learning },
    });
    this.ops.push(
      `create vxlan ${o.name} vni ${o.vni} port ${o.port} local ${o.local} dev ${o.parentIndex} mtu ${o.mtu} mac ${o.mac}`,
    );
  }
  setLink(index: number, c: { up?: boolean; mtu?: number; mac?: string }): void {
    const l = this.linkByIndex(index) ?? this.fail(`set link ${index}`);
    if (c.up !== undefined) l.flags.up = c.up;
    if (c.mtu !== undefined) l.mtu = c.mtu;
    if (c.mac !== undefined) l.mac = c.mac;
    this.ops.push(`set link ${l.name} ${JSON.stringify(c)}`);
  }
  deleteLink(index: number): void {
    const l = this.linkByIndex(index) ?? this.fail(`delete link ${index}`);
    this.links = this.links.filter((x) => x !== l);
    // What the kernel drops with a link.
    this.addresses = this.addresses.filter((a) => a.index !== index);
    this.table = this.table.filter((r) => r.oif !== index);
    this.neigh = this.neigh.filter((n) => n.index !== index);
    this.fdbTable = this.fdbTable.filter((f) => f.index !== index);
    this.ops.push(`delete link ${l.name}`);
  }
  addrs(filter: { index?: number }): Array<{ index: number; address: string; cidr: string; scope: number }> {
    return this.addresses
      .filter((a) => filter.index === undefined || a.index === filter.index)
      .map((a) => ({ ...a, address: a.cidr.split('/')[0] ?? '' }));
  }
  addAddr(index: number, cidr: string): void {
    this.addresses.push({ index, cidr, scope: 0 });
    this.ops.push(`add address ${cidr} dev ${this.linkByIndex(index)?.name}`);
  }
  deleteAddr(index: number, cidr: string): void {
    this.addresses = this.addresses.filter((a) => !(a.index === index && a.cidr === cidr));
    this.ops.push(`delete address ${cidr} dev ${this.linkByIndex(index)?.name}`);
  }
  routes(filter: { family?: Family }): FakeRoute[] {
    return this.table.filter((r) => filter.family === undefined || r.dst.includes(':') === (filter.family === 6));
  }
  replaceRoute(s: { dst: string; gateway: string; protocol: number; oif?: number; onlink?: boolean }): void {
    this.table = this.table.filter((r) => r.dst !== s.dst);
    this.table.push({ ...s });
    this.ops.push(
      `replace route ${s.dst} via ${s.gateway}${s.oif === undefined ? '' : ` dev ${this.linkByIndex(s.oif)?.name}`}${s.onlink ? ' onlink' : ''} proto ${s.protocol}`,
    );
  }
  deleteRoute(s: { dst: string; protocol: number }): void {
    const before = this.table.length;
    this.table = this.table.filter((r) => !(r.dst === s.dst && r.protocol === s.protocol));
    if (this.table.length === before) this.fail(`delete route ${s.dst}`);
    this.ops.push(`delete route ${s.dst} proto ${s.protocol}`);
  }
  routeTo(address: string): { gateway?: string; type: number } {
    return this.onLink.has(address) ? { type: 1 } : { gateway: '192.0.2.254', type: 1 };
  }
  neighbours(filter: { family: Family; index: number }): Array<{ address: string; mac?: string; permanent: boolean }> {
    return this.neigh
      .filter((n) => n.index === filter.index && n.address.includes(':') === (filter.family === 6))
      .map((n) => ({ address: n.address, mac: n.mac, permanent: true }));
  }
  replaceNeighbour(index: number, address: string, mac: string): void {
    this.neigh = this.neigh.filter((n) => !(n.index === index && n.address === address));
    this.neigh.push({ index, address, mac });
    this.ops.push(`replace neighbour ${address} lladdr ${mac}`);
  }
  deleteNeighbour(index: number, address: string): void {
    const before = this.neigh.length;
    this.neigh = this.neigh.filter((n) => !(n.index === index && n.address === address));
    if (this.neigh.length === before) this.fail(`delete neighbour ${address}`);
    this.ops.push(`delete neighbour ${address}`);
  }
  fdb(index: number): Array<{ mac: string; dst?: string; permanent: boolean }> {
    return this.fdbTable.filter((f) => f.index === index).map((f) => ({ mac: f.mac, dst: f.dst, permanent: true }));
  }
  replaceFdb(index: number, mac: string, dst: string): void {
    this.fdbTable = this.fdbTable.filter((f) => !(f.index === index && f.mac === mac));
    this.fdbTable.push({ index, mac, dst });
    this.ops.push(`replace fdb ${mac} dst ${dst}`);
  }
  deleteFdb(index: number, mac: string, dst?: string): void {
    const before = this.fdbTable.length;
    this.fdbTable = this.fdbTable.filter(
      (f) => !(f.index === index && f.mac === mac && (dst === undefined || f.dst === dst)),
    );
    if (this.fdbTable.length === before) this.fail(`delete fdb ${mac}`);
    this.ops.push(`delete fdb ${mac} dst ${dst}`);
  }
  close(): void {
    this.closed = true;
  }

  /** The recorded changes since the last call. */
  take(): string[] {
    return this.ops.splice(0);
  }
}
