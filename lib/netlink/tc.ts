/**
 * Traffic control (RTM_*QDISC, RTM_*TCLASS, RTM_*TFILTER): the tcmsg header and handles, the
 * requests that add, delete and list qdiscs, classes and filters, and decoders of what the kernel
 * reports back. Only the kinds tscni uses: tbf, htb, bfifo and ingress qdiscs, htb classes, u32
 * filters with mirred actions. Pure; the socket is elsewhere.
 *
 * Rates are bytes per second (numbers; above 2^32 they also travel as a 64-bit attribute), times
 * are the kernel's scheduler ticks (see tickInUsec), u32 keys are host-order numbers matched
 * against the packet in network order.
 */
import {
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_ECHO,
  NLM_F_EXCL,
  RTM_DELQDISC,
  RTM_GETQDISC,
  RTM_GETTCLASS,
  RTM_GETTFILTER,
  RTM_NEWQDISC,
  RTM_NEWTCLASS,
  RTM_NEWTFILTER,
  TCA_ACT_KIND,
  TCA_ACT_OPTIONS,
  TCA_CHAIN,
  TCA_HTB_CEIL64,
  TCA_HTB_INIT,
  TCA_HTB_PARMS,
  TCA_HTB_RATE64,
  TCA_KIND,
  TCA_MIRRED_PARMS,
  TCA_OPTIONS,
  TCA_TBF_PARMS,
  TCA_TBF_RATE64,
  TCA_U32_ACT,
  TCA_U32_CLASSID,
  TCA_U32_SEL,
  TCMSG_LEN,
  TC_H_INGRESS,
  TC_H_ROOT,
  TC_HTB_GLOB_LEN,
  TC_HTB_OPT_LEN,
  TC_HTB_PROTOVER,
  TC_LINKLAYER_UNAWARE,
  TC_MIRRED_LEN,
  TC_RATESPEC_LEN,
  TC_TBF_QOPT_LEN,
  TC_U32_KEY_LEN,
  TC_U32_SEL_LEN,
  TC_U32_TERMINAL,
} from './constants';
import { Attrs, attr, type AttrSpec, type NlMessage, type Request } from './message';

const LE = true;
const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
const U32_MAX = 0xffffffff;

// ---------------------------------------------------------------------------------------------
// Header and handles

export interface TcMsg {
  family: number;
  index: number;
  handle: number;
  parent: number;
  /** Filters: priority << 16 | protocol in network byte order. */
  info: number;
}

export function encodeTcMsg(h: Partial<TcMsg> = {}): Uint8Array {
  const b = new Uint8Array(TCMSG_LEN);
  const v = view(b);
  b[0] = h.family ?? 0;
  v.setInt32(4, h.index ?? 0, LE);
  v.setUint32(8, (h.handle ?? 0) >>> 0, LE);
  v.setUint32(12, (h.parent ?? 0) >>> 0, LE);
  v.setUint32(16, (h.info ?? 0) >>> 0, LE);
  return b;
}

export function decodeTcMsg(p: Uint8Array): TcMsg {
  if (p.length < TCMSG_LEN) throw new Error(`netlink message too short for tcmsg: ${p.length} < ${TCMSG_LEN} bytes`);
  const v = view(p);
  return {
    family: p[0] ?? 0,
    index: v.getInt32(4, LE),
    handle: v.getUint32(8, LE),
    parent: v.getUint32(12, LE),
    info: v.getUint32(16, LE),
  };
}

/** `major:minor` as one 32-bit handle (tc writes 1:30 for tcHandle(1, 0x30)). */
export const tcHandle = (major: number, minor = 0): number => (((major & 0xffff) << 16) | (minor & 0xffff)) >>> 0;

/** A handle as tc prints it: `1:`, `1:30`, `root`, `ingress`. */
export function formatHandle(h: number): string {
  if (h === TC_H_ROOT) return 'root';
  if (h === TC_H_INGRESS) return 'ingress';
  const major = (h >>> 16).toString(16);
  const minor = (h & 0xffff).toString(16);
  return minor === '0' ? `${major}:` : `${major}:${minor}`;
}

const htons = (n: number): number => ((n & 0xff) << 8) | ((n >> 8) & 0xff);
/** tcm_info of a filter: its priority and protocol (ETH_P_*). */
export const filterInfo = (prio: number, protocol: number): number => ((prio << 16) | htons(protocol)) >>> 0;

// ---------------------------------------------------------------------------------------------
// Scheduler time

/**
 * Microseconds per scheduler tick, from /proc/net/psched's first two numbers (how iproute2 and
 * the reference's netlink library compute it): 1000/64 = 15.625 on every kernel since 2.6.31.
 */
export function tickInUsec(psched: string): number {
  const [t2us, us2t, clockRes] = psched
    .trim()
    .split(/\s+/)
    .map((x) => parseInt(x, 16));
  if (!t2us || !us2t || !clockRes) throw new Error(`unreadable /proc/net/psched: ${JSON.stringify(psched)}`);
  return (t2us / us2t) * (clockRes / 1_000_000);
}

// ---------------------------------------------------------------------------------------------
// Qdiscs

/** Token bucket: `rate` bytes/s, `buffer` ticks of tokens (the burst), `limit` bytes queued. */
export interface TbfOptions {
  kind: 'tbf';
  rate: number;
  buffer: number;
  limit: number;
}
/** HTB root: unclassified packets go to class `major:defaultClass`. */
export interface HtbOptions {
  kind: 'htb';
  defaultClass: number;
  rate2quantum: number;
}
/** A byte-limited FIFO. */
export interface BfifoOptions {
  kind: 'bfifo';
  limit: number;
}
export interface IngressOptions {
  kind: 'ingress';
}
export type QdiscOptions = TbfOptions | HtbOptions | BfifoOptions | IngressOptions;

export interface QdiscSpec {
  index: number;
  handle: number;
  parent: number;
  options: QdiscOptions;
}

/** struct tc_ratespec with only the rate set (no rate table: the kernel computes its own). */
function rateSpec(out: DataView, at: number, rate: number): void {
  out.setUint8(at + 1, TC_LINKLAYER_UNAWARE);
  out.setUint32(at + 8, Math.min(rate, U32_MAX), LE);
}

const u64 = (type: number, n: number): AttrSpec => {
  const b = new Uint8Array(8);
  view(b).setBigUint64(0, BigInt(Math.trunc(n)), LE);
  return attr.bytes(type, b);
};

function qdiscOptions(o: QdiscOptions): AttrSpec[] {
  switch (o.kind) {
    case 'tbf': {
      const b = new Uint8Array(TC_TBF_QOPT_LEN);
      const v = view(b);
      rateSpec(v, 0, o.rate);
      v.setUint32(2 * TC_RATESPEC_LEN, o.limit, LE);
      v.setUint32(2 * TC_RATESPEC_LEN + 4, o.buffer, LE);
      const opts = [attr.bytes(TCA_TBF_PARMS, b)];
      if (o.rate > U32_MAX) opts.push(u64(TCA_TBF_RATE64, o.rate));
      return [attr.nest(TCA_OPTIONS, opts)];
    }
    case 'htb': {
      const b = new Uint8Array(TC_HTB_GLOB_LEN);
      const v = view(b);
      v.setUint32(0, TC_HTB_PROTOVER, LE);
      v.setUint32(4, o.rate2quantum, LE);
      v.setUint32(8, o.defaultClass, LE);
      return [attr.nest(TCA_OPTIONS, [attr.bytes(TCA_HTB_INIT, b)])];
    }
    case 'bfifo':
      // tc_fifo_qopt travels bare, not nested.
      return [attr.u32(TCA_OPTIONS, o.limit)];
    case 'ingress':
      return [];
  }
}

export const newQdisc = (q: QdiscSpec): Request => ({
  type: RTM_NEWQDISC,
  flags: NLM_F_CREATE | NLM_F_EXCL,
  header: encodeTcMsg({ index: q.index, handle: q.handle, parent: q.parent }),
  attrs: [attr.str(TCA_KIND, q.options.kind), ...qdiscOptions(q.options)],
});

/** Deletes the qdisc at `parent` (root or ingress); with `handle`, only if it is that one. */
export const delQdisc = (index: number, parent: number, handle = 0): Request => ({
  type: RTM_DELQDISC,
  flags: 0,
  header: encodeTcMsg({ index, parent, handle }),
});

/**
 * The qdisc at `parent` of one link (root, ingress, or a class's leaf): one message, no dump.
 * The kernel answers a qdisc GET as a notification, sent back to the asker only with ECHO.
 */
export const getQdisc = (index: number, parent: number): Request => ({
  type: RTM_GETQDISC,
  flags: NLM_F_ECHO,
  header: encodeTcMsg({ index, parent }),
});

/** Every qdisc of the namespace (the kernel does not filter qdisc dumps by link). */
export const dumpQdiscs = (): Request => ({ type: RTM_GETQDISC, flags: NLM_F_DUMP, header: encodeTcMsg() });

// ---------------------------------------------------------------------------------------------
// Classes

/** An HTB class: `rate`/`ceil` bytes/s, `buffer`/`cbuffer` ticks, `quantum` bytes per round. */
export interface HtbClassSpec {
  index: number;
  handle: number;
  parent: number;
  rate: number;
  ceil: number;
  buffer: number;
  cbuffer: number;
  quantum: number;
}

export function newHtbClass(c: HtbClassSpec): Request {
  const b = new Uint8Array(TC_HTB_OPT_LEN);
  const v = view(b);
  rateSpec(v, 0, c.rate);
  rateSpec(v, TC_RATESPEC_LEN, c.ceil);
  v.setUint32(2 * TC_RATESPEC_LEN, c.buffer, LE);
  v.setUint32(2 * TC_RATESPEC_LEN + 4, c.cbuffer, LE);
  v.setUint32(2 * TC_RATESPEC_LEN + 8, c.quantum, LE);
  const opts = [attr.bytes(TCA_HTB_PARMS, b)];
  if (c.rate > U32_MAX) opts.push(u64(TCA_HTB_RATE64, c.rate));
  if (c.ceil > U32_MAX) opts.push(u64(TCA_HTB_CEIL64, c.ceil));
  return {
    type: RTM_NEWTCLASS,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    header: encodeTcMsg({ index: c.index, handle: c.handle, parent: c.parent }),
    attrs: [attr.str(TCA_KIND, 'htb'), attr.nest(TCA_OPTIONS, opts)],
  };
}

/** The classes of one link. */
export const dumpClasses = (index: number): Request => ({
  type: RTM_GETTCLASS,
  flags: NLM_F_DUMP,
  header: encodeTcMsg({ index }),
});

// ---------------------------------------------------------------------------------------------
// Filters

/** Matches the 32 bits at `offset` from the network header: (word & mask) === value. */
export interface U32Key {
  mask: number;
  value: number;
  offset: number;
}

export type MirredDirection = 'egress-redirect' | 'egress-mirror' | 'ingress-redirect' | 'ingress-mirror';
/** What the action tells the classifier afterwards: `stolen` ends it, `pass` / `pipe` go on. */
export type ActionVerdict = 'pass' | 'pipe' | 'stolen';

export interface MirredAction {
  kind: 'mirred';
  direction: MirredDirection;
  ifindex: number;
  verdict: ActionVerdict;
}

/** A u32 filter: its keys all match → `classid` and the actions (none: the packet just passes). */
export interface U32FilterSpec {
  index: number;
  parent: number;
  prio: number;
  /** ETH_P_* */
  protocol: number;
  classid?: number;
  keys: readonly U32Key[];
  actions: readonly MirredAction[];
}

const MIRRED_DIRECTIONS: Readonly<Record<MirredDirection, number>> = {
  'egress-redirect': 1,
  'egress-mirror': 2,
  'ingress-redirect': 3,
  'ingress-mirror': 4,
};
const VERDICTS: Readonly<Record<ActionVerdict, number>> = { pass: 0, pipe: 3, stolen: 4 };
const nameOf = <K extends string>(table: Readonly<Record<K, number>>, n: number): K | undefined =>
  (Object.keys(table) as K[]).find((k) => table[k] === n);

function u32Selector(keys: readonly U32Key[]): Uint8Array {
  // An empty key list means "everything": one key that masks nothing (as tc and the reference send it).
  const list = keys.length ? keys : [{ mask: 0, value: 0, offset: 0 }];
  const b = new Uint8Array(TC_U32_SEL_LEN + list.length * TC_U32_KEY_LEN);
  const v = view(b);
  b[0] = TC_U32_TERMINAL;
  b[2] = list.length;
  list.forEach((k, i) => {
    const at = TC_U32_SEL_LEN + i * TC_U32_KEY_LEN;
    v.setUint32(at, k.mask >>> 0, false);
    v.setUint32(at + 4, (k.value & k.mask) >>> 0, false);
    v.setInt32(at + 8, k.offset, LE);
  });
  return b;
}

function mirredParms(a: MirredAction): Uint8Array {
  const b = new Uint8Array(TC_MIRRED_LEN);
  const v = view(b);
  v.setInt32(8, VERDICTS[a.verdict], LE);
  v.setInt32(20, MIRRED_DIRECTIONS[a.direction], LE);
  v.setUint32(24, a.ifindex, LE);
  return b;
}

export function newU32Filter(f: U32FilterSpec): Request {
  const opts: AttrSpec[] = [attr.bytes(TCA_U32_SEL, u32Selector(f.keys))];
  if (f.classid !== undefined) opts.push(attr.u32(TCA_U32_CLASSID, f.classid));
  if (f.actions.length) {
    opts.push(
      attr.nest(
        TCA_U32_ACT,
        f.actions.map((a, i) =>
          attr.nest(i + 1, [
            attr.str(TCA_ACT_KIND, a.kind),
            attr.nest(TCA_ACT_OPTIONS, [attr.bytes(TCA_MIRRED_PARMS, mirredParms(a))]),
          ]),
        ),
      ),
    );
  }
  return {
    type: RTM_NEWTFILTER,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    header: encodeTcMsg({ index: f.index, parent: f.parent, info: filterInfo(f.prio, f.protocol) }),
    attrs: [attr.str(TCA_KIND, 'u32'), attr.nest(TCA_OPTIONS, opts)],
  };
}

/** The filters attached to `parent` (a qdisc handle, or TC_H_INGRESS) of one link. */
export const dumpFilters = (index: number, parent: number): Request => ({
  type: RTM_GETTFILTER,
  flags: NLM_F_DUMP,
  header: encodeTcMsg({ index, parent }),
});

// ---------------------------------------------------------------------------------------------
// Decoding

export interface TbfParams {
  rate: number;
  buffer: number;
  limit: number;
}
export interface HtbParams {
  defaultClass: number;
  rate2quantum: number;
}

export interface Qdisc {
  index: number;
  handle: number;
  parent: number;
  kind: string;
  tbf?: TbfParams;
  htb?: HtbParams;
  /** bfifo / pfifo limit. */
  fifoLimit?: number;
}

export interface HtbClassParams {
  rate: number;
  ceil: number;
  buffer: number;
  cbuffer: number;
  quantum: number;
}

export interface TcClass {
  index: number;
  handle: number;
  parent: number;
  kind: string;
  htb?: HtbClassParams;
}

export interface ActionInfo {
  kind: string;
  mirred?: { direction: MirredDirection | number; ifindex: number; verdict: ActionVerdict | number };
}

export interface U32Params {
  /** Absent on hash-table nodes; on key nodes, whether a match ends classification. */
  keys?: U32Key[];
  terminal?: boolean;
  classid?: number;
  actions: ActionInfo[];
}

export interface Filter {
  index: number;
  handle: number;
  parent: number;
  prio: number;
  protocol: number;
  kind: string;
  chain?: number;
  u32?: U32Params;
}

const rateOf = (b: Uint8Array, at: number, wide: number | undefined): number =>
  wide !== undefined ? wide : view(b).getUint32(at + 8, LE);

function u64Of(a: Attrs, type: number): number | undefined {
  const d = a.bytes(type);
  return d && d.length >= 8 ? Number(view(d).getBigUint64(0, LE)) : undefined;
}

/** Decodes an RTM_NEWQDISC message (from a dump). */
export function decodeQdisc(m: NlMessage): Qdisc {
  const h = decodeTcMsg(m.payload);
  const a = Attrs.parse(m.payload, TCMSG_LEN);
  const q: Qdisc = { index: h.index, handle: h.handle, parent: h.parent, kind: a.str(TCA_KIND) ?? '' };
  if (q.kind === 'tbf') {
    const o = a.nested(TCA_OPTIONS);
    const p = o.bytes(TCA_TBF_PARMS);
    if (p && p.length >= TC_TBF_QOPT_LEN) {
      const v = view(p);
      q.tbf = {
        rate: rateOf(p, 0, u64Of(o, TCA_TBF_RATE64)),
        limit: v.getUint32(2 * TC_RATESPEC_LEN, LE),
        buffer: v.getUint32(2 * TC_RATESPEC_LEN + 4, LE),
      };
    }
  } else if (q.kind === 'htb') {
    const g = a.nested(TCA_OPTIONS).bytes(TCA_HTB_INIT);
    if (g && g.length >= TC_HTB_GLOB_LEN) {
      const v = view(g);
      q.htb = { rate2quantum: v.getUint32(4, LE), defaultClass: v.getUint32(8, LE) };
    }
  } else if (q.kind === 'bfifo' || q.kind === 'pfifo') {
    const limit = a.u32(TCA_OPTIONS);
    if (limit !== undefined) q.fifoLimit = limit;
  }
  return q;
}

/** Decodes an RTM_NEWTCLASS message. */
export function decodeClass(m: NlMessage): TcClass {
  const h = decodeTcMsg(m.payload);
  const a = Attrs.parse(m.payload, TCMSG_LEN);
  const c: TcClass = { index: h.index, handle: h.handle, parent: h.parent, kind: a.str(TCA_KIND) ?? '' };
  if (c.kind === 'htb') {
    const o = a.nested(TCA_OPTIONS);
    const p = o.bytes(TCA_HTB_PARMS);
    if (p && p.length >= TC_HTB_OPT_LEN) {
      const v = view(p);
      c.htb = {
        rate: rateOf(p, 0, u64Of(o, TCA_HTB_RATE64)),
        ceil: rateOf(p, TC_RATESPEC_LEN, u64Of(o, TCA_HTB_CEIL64)),
        buffer: v.getUint32(2 * TC_RATESPEC_LEN, LE),
        cbuffer: v.getUint32(2 * TC_RATESPEC_LEN + 4, LE),
        quantum: v.getUint32(2 * TC_RATESPEC_LEN + 8, LE),
      };
    }
  }
  return c;
}

function decodeActions(list: Attrs): ActionInfo[] {
  return list.list.map((one) => {
    const a = Attrs.parse(one.data);
    const info: ActionInfo = { kind: a.str(TCA_ACT_KIND) ?? '' };
    const p = a.nested(TCA_ACT_OPTIONS).bytes(TCA_MIRRED_PARMS);
    if (info.kind === 'mirred' && p && p.length >= TC_MIRRED_LEN) {
      const v = view(p);
      const verdict = v.getInt32(8, LE);
      const direction = v.getInt32(20, LE);
      info.mirred = {
        direction: nameOf(MIRRED_DIRECTIONS, direction) ?? direction,
        ifindex: v.getUint32(24, LE),
        verdict: nameOf(VERDICTS, verdict) ?? verdict,
      };
    }
    return info;
  });
}

/** Decodes an RTM_NEWTFILTER message. */
export function decodeFilter(m: NlMessage): Filter {
  const h = decodeTcMsg(m.payload);
  const a = Attrs.parse(m.payload, TCMSG_LEN);
  const f: Filter = {
    index: h.index,
    handle: h.handle,
    parent: h.parent,
    prio: h.info >>> 16,
    protocol: htons(h.info & 0xffff),
    kind: a.str(TCA_KIND) ?? '',
  };
  const chain = a.u32(TCA_CHAIN);
  if (chain !== undefined) f.chain = chain;
  if (f.kind === 'u32' && a.has(TCA_OPTIONS)) {
    const o = a.nested(TCA_OPTIONS);
    const u: U32Params = { actions: decodeActions(o.nested(TCA_U32_ACT)) };
    const sel = o.bytes(TCA_U32_SEL);
    if (sel && sel.length >= TC_U32_SEL_LEN) {
      const v = view(sel);
      const n = sel[2] ?? 0;
      u.terminal = ((sel[0] ?? 0) & TC_U32_TERMINAL) !== 0;
      u.keys = [];
      for (let i = 0; i < n && TC_U32_SEL_LEN + (i + 1) * TC_U32_KEY_LEN <= sel.length; i++) {
        const at = TC_U32_SEL_LEN + i * TC_U32_KEY_LEN;
        u.keys.push({
          mask: v.getUint32(at, false),
          value: v.getUint32(at + 4, false),
          offset: v.getInt32(at + 8, LE),
        });
      }
    }
    const classid = o.u32(TCA_U32_CLASSID);
    if (classid !== undefined) u.classid = classid;
    f.u32 = u;
  }
  return f;
}
