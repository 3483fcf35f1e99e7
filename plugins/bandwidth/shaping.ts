/**
 * What bandwidth asks of the kernel, as data (the plan) and as netlink requests (add, remove,
 * verify), all on the host side of the container's veth:
 *
 * - ingress (traffic to the container) leaves the host through the veth: a tbf as its root qdisc;
 * - egress (traffic from the container) arrives on the veth: its ingress qdisc redirects it (u32
 *   match-all + mirred) to an ifb device, whose root tbf shapes it before it goes on.
 *
 * That is the reference's layout, object for object. With `unshapedSubnets` / `shapedSubnets`
 * the traffic is first sorted by peer: towards the container an HTB root sends it either to an
 * unlimited class or to one limited like the tbf (its bucket, and a byte FIFO as deep as the
 * tbf's queue); from the container only the traffic to be shaped is redirected to the ifb.
 */
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { Addr } from '../../lib/addr/ip';
import {
  ETH_P_ALL,
  ETH_P_IP,
  ETH_P_IPV6,
  TC_H_INGRESS,
  TC_H_INGRESS_HANDLE,
  TC_H_ROOT,
} from '../../lib/netlink/constants';
import {
  formatHandle,
  isErrno,
  type ActionInfo,
  tcHandle,
  type Filter,
  type Link,
  type MirredAction,
  type Qdisc,
  type Rtnl,
  type U32FilterSpec,
  type U32Key,
} from '../../lib/netlink';
import type { UndoStack } from '../../lib/undo';
import type { BandwidthConfig, Selection, Subnet } from './config';
import { tbfParams, type TbfParams } from './tbf';

/** The root qdisc's handle on the veth and on the ifb (the reference's 1:). */
export const ROOT_HANDLE = tcHandle(1);
/** The classid the reference puts on its redirect filter. */
const REDIRECT_CLASSID = tcHandle(1, 1);
/** With subnets, towards the container: unlimited traffic (1:1) and shaped traffic (1:30, upstream v1.5's). */
export const UNSHAPED_CLASS = tcHandle(1, 1);
export const SHAPED_CLASS = tcHandle(1, 0x30);
const SHAPED_LEAF = tcHandle(0x30);
/** "Unlimited": 100 GB/s, with a 1 ms bucket. */
const UNCAPPED_RATE = 100_000_000_000;
/** HTB's per-round share, given outright so the kernel does not derive (and warn about) one. */
const HTB_QUANTUM = 65536;
const HTB_RATE2QUANTUM = 10;

export interface ShapingPlan {
  /** Towards the container, on the veth's root. */
  readonly ingress: TbfParams | undefined;
  /** From the container, on the ifb's root. */
  readonly egress: TbfParams | undefined;
  readonly selection: Selection;
  /** The bucket of the unlimited class (subnets only): 1 ms in ticks. */
  readonly uncappedBuffer: number;
}

export const planShaping = (cfg: BandwidthConfig, tickUsec: number): ShapingPlan => ({
  ingress: cfg.ingress && tbfParams(cfg.ingress, tickUsec),
  egress: cfg.egress && tbfParams(cfg.egress, tickUsec),
  selection: cfg.selection,
  uncappedBuffer: Math.trunc(1000 * tickUsec),
});

// ---------------------------------------------------------------------------------------------
// Classifying by peer

type Side = 'src' | 'dst';
/** Where the addresses sit in the IP header. */
const OFFSETS: Readonly<Record<4 | 6, Readonly<Record<Side, number>>>> = {
  4: { src: 12, dst: 16 },
  6: { src: 8, dst: 24 },
};

/** u32 keys matching `s` at the `side` address: one per 32-bit word the prefix reaches. */
export function subnetKeys(s: Subnet, side: Side): U32Key[] {
  const net: Addr = s.net;
  const words = net.family === 4 ? 1 : 4;
  const bits = words * 32;
  const keys: U32Key[] = [];
  for (let w = 0; w < words; w++) {
    const covered = Math.max(0, Math.min(32, s.prefix - w * 32));
    if (covered === 0) continue;
    const mask = covered === 32 ? 0xffffffff : (0xffffffff << (32 - covered)) >>> 0;
    const value = Number((net.value >> BigInt(bits - 32 * (w + 1))) & 0xffffffffn);
    keys.push({ mask, value: (value & mask) >>> 0, offset: OFFSETS[net.family][side] + 4 * w });
  }
  return keys;
}

/** One filter per subnet, IPv4 at prio 1 and IPv6 at prio 2 (a prio holds one protocol). */
function subnetFilters(
  index: number,
  parent: number,
  subnets: readonly Subnet[],
  side: Side,
  then: { classid: number; actions: readonly MirredAction[] },
): U32FilterSpec[] {
  return subnets.map((s) => ({
    index,
    parent,
    prio: s.net.family === 4 ? 1 : 2,
    protocol: s.net.family === 4 ? ETH_P_IP : ETH_P_IPV6,
    classid: then.classid,
    keys: subnetKeys(s, side),
    actions: then.actions,
  }));
}

const redirectTo = (ifbIndex: number): MirredAction => ({
  kind: 'mirred',
  direction: 'egress-redirect',
  ifindex: ifbIndex,
  verdict: 'stolen',
});

/** The filters on the veth's ingress qdisc that send the container's traffic to the ifb. */
export function redirectFilters(hostIndex: number, ifbIndex: number, sel: Selection): U32FilterSpec[] {
  const all = (prio: number): U32FilterSpec => ({
    index: hostIndex,
    parent: TC_H_INGRESS_HANDLE,
    prio,
    protocol: ETH_P_ALL,
    classid: REDIRECT_CLASSID,
    keys: [],
    actions: [redirectTo(ifbIndex)],
  });
  if (sel.mode === 'all') return [all(1)];
  if (sel.mode === 'shaped')
    return subnetFilters(hostIndex, TC_H_INGRESS_HANDLE, sel.subnets, 'dst', {
      classid: REDIRECT_CLASSID,
      actions: [redirectTo(ifbIndex)],
    });
  // Unshaped peers match first and pass on untouched; everything else is redirected.
  return [
    ...subnetFilters(hostIndex, TC_H_INGRESS_HANDLE, sel.subnets, 'dst', { classid: REDIRECT_CLASSID, actions: [] }),
    all(3),
  ];
}

// ---------------------------------------------------------------------------------------------
// ADD

/** Towards the container: the veth's root qdisc (and with subnets its classes and filters). */
export function addIngressShaping(
  host: Rtnl,
  hostIndex: number,
  p: TbfParams,
  plan: ShapingPlan,
  undo: UndoStack,
): void {
  const sel = plan.selection;
  if (sel.mode === 'all') {
    host.addQdisc({ index: hostIndex, handle: ROOT_HANDLE, parent: TC_H_ROOT, options: { kind: 'tbf', ...p } });
    undo.push('remove the root qdisc', async () => removeRootQdisc(host, hostIndex));
    return;
  }
  const shapedByDefault = sel.mode === 'unshaped';
  host.addQdisc({
    index: hostIndex,
    handle: ROOT_HANDLE,
    parent: TC_H_ROOT,
    options: {
      kind: 'htb',
      defaultClass: (shapedByDefault ? SHAPED_CLASS : UNSHAPED_CLASS) & 0xffff,
      rate2quantum: HTB_RATE2QUANTUM,
    },
  });
  undo.push('remove the root qdisc', async () => removeRootQdisc(host, hostIndex));
  host.addHtbClass({
    index: hostIndex,
    handle: UNSHAPED_CLASS,
    parent: ROOT_HANDLE,
    rate: UNCAPPED_RATE,
    ceil: UNCAPPED_RATE,
    buffer: plan.uncappedBuffer,
    cbuffer: plan.uncappedBuffer,
    quantum: HTB_QUANTUM,
  });
  host.addHtbClass({
    index: hostIndex,
    handle: SHAPED_CLASS,
    parent: ROOT_HANDLE,
    rate: p.rate,
    ceil: p.rate,
    buffer: p.buffer,
    cbuffer: p.buffer,
    quantum: HTB_QUANTUM,
  });
  host.addQdisc({
    index: hostIndex,
    handle: SHAPED_LEAF,
    parent: SHAPED_CLASS,
    options: { kind: 'bfifo', limit: p.limit },
  });
  const classid = shapedByDefault ? UNSHAPED_CLASS : SHAPED_CLASS;
  for (const f of subnetFilters(hostIndex, ROOT_HANDLE, sel.subnets, 'src', { classid, actions: [] }))
    host.addU32Filter(f);
}

export interface IfbSpec {
  readonly name: string;
  readonly alias: string;
}

/**
 * From the container: the ifb (up, the veth's MTU, no queue of its own: the reference's), its
 * root tbf, and the veth's ingress qdisc with the redirect. Returns the ifb as created.
 */
export function addEgressShaping(
  host: Rtnl,
  hostLink: Link,
  p: TbfParams,
  sel: Selection,
  ifb: IfbSpec,
  undo: UndoStack,
): Link {
  try {
    host.createIfb({ name: ifb.name, mtu: hostLink.mtu, txqlen: 0, up: true });
  } catch (e) {
    if (isErrno(e, 'EEXIST'))
      throw new CniError(ErrorCode.Internal, `adding link: ifb ${ifb.name} already exists`, e.message);
    throw e;
  }
  undo.push(`delete ${ifb.name}`, async () => deleteIfb(host, ifb.name));
  const link = host.linkByName(ifb.name);
  if (!link) throw new CniError(ErrorCode.Internal, `ifb ${ifb.name} vanished right after its creation`);
  host.setLink(link.index, { alias: ifb.alias });
  host.addQdisc({
    index: hostLink.index,
    handle: TC_H_INGRESS_HANDLE,
    parent: TC_H_INGRESS,
    options: { kind: 'ingress' },
  });
  undo.push('remove the ingress qdisc', async () => removeIngressQdisc(host, hostLink.index));
  for (const f of redirectFilters(hostLink.index, link.index, sel)) host.addU32Filter(f);
  host.addQdisc({ index: link.index, handle: ROOT_HANDLE, parent: TC_H_ROOT, options: { kind: 'tbf', ...p } });
  return link;
}

// ---------------------------------------------------------------------------------------------
// DEL and GC

const gone = (e: unknown): boolean => isErrno(e, 'ENOENT', 'EINVAL', 'ENODEV');

/** Removes the root qdisc if it is ours (handle 1:, tbf or htb); true when one was removed. */
export function removeRootQdisc(host: Rtnl, index: number): boolean {
  const q = host.qdiscAt(index, TC_H_ROOT);
  if (!q || q.handle !== ROOT_HANDLE || (q.kind !== 'tbf' && q.kind !== 'htb')) return false;
  try {
    host.deleteQdisc(index, TC_H_ROOT, ROOT_HANDLE);
    return true;
  } catch (e) {
    if (gone(e)) return false;
    throw e;
  }
}

export function removeIngressQdisc(host: Rtnl, index: number): boolean {
  try {
    host.deleteQdisc(index, TC_H_INGRESS, TC_H_INGRESS_HANDLE);
    return true;
  } catch (e) {
    if (gone(e)) return false;
    throw e;
  }
}

export function deleteIfb(host: Rtnl, name: string): boolean {
  const link = host.linkByName(name);
  return link ? deleteLinkAt(host, link.index) : false;
}

/** Deletes a link known by index; one already gone is fine. */
export function deleteLinkAt(host: Rtnl, index: number): boolean {
  try {
    host.deleteLink(index);
    return true;
  } catch (e) {
    if (isErrno(e, 'ENODEV')) return false;
    throw e;
  }
}

/** Whether the link's ingress qdisc redirects to the ifb at `ifbIndex` (then the shaping is that ifb's). */
export function redirectsTo(host: Rtnl, index: number, ifbIndex: number): boolean {
  let filters: Filter[];
  try {
    filters = host.filters(index, TC_H_INGRESS);
  } catch (e) {
    if (gone(e)) return false;
    throw e;
  }
  return filters.some((f) => f.u32?.actions.some((a) => a.mirred?.ifindex === ifbIndex));
}

// ---------------------------------------------------------------------------------------------
// CHECK

const fail = (msg: string, details: string): CniError => new CniError(ErrorCode.Internal, msg, details);

/** A root tbf with the plan's numbers (the reference's messages). */
function checkTbf(q: Qdisc | undefined, where: string, p: TbfParams): void {
  if (!q || q.kind !== 'tbf' || !q.tbf)
    throw fail('Failed to find qdisc', `${where}: expected a tbf root qdisc, found ${q ? q.kind : 'none'}`);
  const t = q.tbf;
  if (t.rate !== p.rate) throw fail("Rate doesn't match", `${where}: ${t.rate} bytes/s, expected ${p.rate}`);
  if (t.limit !== p.limit) throw fail("Limit doesn't match", `${where}: ${t.limit} bytes, expected ${p.limit}`);
  if (t.buffer !== p.buffer) throw fail("Buffer doesn't match", `${where}: ${t.buffer} ticks, expected ${p.buffer}`);
}

const keyText = (keys: readonly U32Key[] | undefined): string =>
  (keys?.length ? keys : [{ mask: 0, value: 0, offset: 0 }])
    .map((k) => `${k.value.toString(16)}/${k.mask.toString(16)}@${k.offset}`)
    .join(',');
const line = (prio: number, protocol: number, keys: string, classid: number | undefined, acts: string): string =>
  `prio ${prio} proto 0x${protocol.toString(16)} match ${keys} class ${formatHandle(classid ?? 0)} ${acts}`.trim();

/** A wanted filter and a kernel one as comparable lines: priority, protocol, keys, class, actions. */
const specLine = (f: U32FilterSpec): string =>
  line(
    f.prio,
    f.protocol,
    keyText(f.keys),
    f.classid,
    f.actions.map((a) => `${a.direction}:${a.ifindex}:${a.verdict}`).join(','),
  );
/** Actions after one that steals the packet never run (the reference's library adds its redirect twice). */
function effectiveActions(f: Filter): ActionInfo[] {
  const all = f.u32?.actions ?? [];
  const stop = all.findIndex((a) => a.mirred?.verdict === 'stolen');
  return stop < 0 ? all : all.slice(0, stop + 1);
}
const kernelLine = (f: Filter): string =>
  line(
    f.prio,
    f.protocol,
    keyText(f.u32?.keys),
    f.u32?.classid,
    effectiveActions(f)
      .map((a) => (a.mirred ? `${a.mirred.direction}:${a.mirred.ifindex}:${a.mirred.verdict}` : a.kind))
      .join(','),
  );

function checkFilters(host: Rtnl, index: number, parent: number, where: string, want: readonly U32FilterSpec[]): void {
  const have = new Set(
    host
      .filters(index, parent)
      .filter((f) => f.u32?.keys)
      .map(kernelLine),
  );
  for (const w of want) {
    const l = specLine(w);
    if (!have.has(l)) throw fail('Failed to find filter', `${where}: missing ${l}`);
  }
}

/** Towards the container: the veth's root qdisc (and with subnets its classes, leaf and filters). */
export function checkIngressShaping(host: Rtnl, hostLink: Link, p: TbfParams, sel: Selection): void {
  const where = `${hostLink.name} root`;
  const root = host.qdiscAt(hostLink.index, TC_H_ROOT);
  if (sel.mode === 'all') return checkTbf(root, where, p);
  const shapedByDefault = sel.mode === 'unshaped';
  const defaultClass = (shapedByDefault ? SHAPED_CLASS : UNSHAPED_CLASS) & 0xffff;
  if (!root || root.kind !== 'htb' || root.handle !== ROOT_HANDLE)
    throw fail('Failed to find qdisc', `${where}: expected an htb root qdisc, found ${root ? root.kind : 'none'}`);
  if (root.htb?.defaultClass !== defaultClass)
    throw fail('Default class does not match', `${where}: ${root.htb?.defaultClass}, expected ${defaultClass}`);
  const shaped = host.classes(hostLink.index).find((c) => c.handle === SHAPED_CLASS)?.htb;
  if (!shaped) throw fail('Failed to find class', `${hostLink.name}: no class ${formatHandle(SHAPED_CLASS)}`);
  if (shaped.rate !== p.rate || shaped.ceil !== p.rate)
    throw fail(
      "Rate doesn't match",
      `${hostLink.name} class ${formatHandle(SHAPED_CLASS)}: ${shaped.rate} bytes/s, expected ${p.rate}`,
    );
  if (shaped.buffer !== p.buffer)
    throw fail(
      "Buffer doesn't match",
      `${hostLink.name} class ${formatHandle(SHAPED_CLASS)}: ${shaped.buffer} ticks, expected ${p.buffer}`,
    );
  const leaf = host.qdiscAt(hostLink.index, SHAPED_CLASS);
  if (leaf?.kind !== 'bfifo' || leaf.fifoLimit !== p.limit)
    throw fail(
      "Limit doesn't match",
      `${hostLink.name} class ${formatHandle(SHAPED_CLASS)}: ${leaf ? `${leaf.kind} ${leaf.fifoLimit}` : 'no queue'}, expected bfifo ${p.limit}`,
    );
  const classid = shapedByDefault ? UNSHAPED_CLASS : SHAPED_CLASS;
  checkFilters(
    host,
    hostLink.index,
    ROOT_HANDLE,
    where,
    subnetFilters(hostLink.index, ROOT_HANDLE, sel.subnets, 'src', { classid, actions: [] }),
  );
}

/** From the container: the ifb with its root tbf, and the veth's redirect to it. */
export function checkEgressShaping(host: Rtnl, hostLink: Link, p: TbfParams, sel: Selection, ifbName: string): void {
  const ifb = host.linkByName(ifbName);
  if (!ifb) throw fail('get ifb device: Link not found', `no link named ${ifbName}`);
  if (ifb.kind !== 'ifb') throw fail('get ifb device: not an ifb', `${ifbName} is a ${ifb.kind ?? 'physical'} link`);
  checkTbf(host.qdiscAt(ifb.index, TC_H_ROOT), `${ifbName} root`, p);
  const ingress = host.qdiscAt(hostLink.index, TC_H_INGRESS);
  if (ingress?.kind !== 'ingress') throw fail('Failed to find qdisc', `${hostLink.name}: no ingress qdisc`);
  checkFilters(
    host,
    hostLink.index,
    TC_H_INGRESS,
    `${hostLink.name} ingress`,
    redirectFilters(hostLink.index, ifb.index, sel),
  );
}
