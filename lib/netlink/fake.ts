/**
 * A recording fake RawSocket for unit tests: records each request (bytes and one-line
 * description) and answers with canned replies, framed with the request's sequence number
 * the way the kernel would.
 */
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
} from './constants';
import {
  IFLA_ADDRESS,
  IFLA_IFALIAS,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_IPVLAN_MODE,
  IFLA_LINK,
  IFLA_LINKINFO,
  IFLA_MACVLAN_MODE,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_TUN_GROUP,
  IFLA_TUN_MULTI_QUEUE,
  IFLA_TUN_OWNER,
  IFLA_TUN_PERSIST,
  IFLA_TUN_TYPE,
  IFLA_TXQLEN,
  IFLA_VLAN_ID,
  IFLA_VRF_TABLE,
  RTM_NEWLINK,
} from './constants';
import { describe } from './describe';
import { parseMac } from './inet';
import { IPVLAN_MODES, MACVLAN_MODES, type IpvlanMode, type MacvlanMode, type TunInfo } from './links';
import { errnoNumber } from '../sys/errno';
import {
  attr,
  encodeAttrs,
  encodeErrorPayload,
  encodeIfInfo,
  encodeMessage,
  parseMessages,
  withSeq,
  type AttrSpec,
  type NlMessage,
} from './message';
import type { RawSocket } from './socket';
import { newQdisc, newU32Filter, type QdiscSpec, type U32FilterSpec } from './tc';

/** Produces the datagrams that answer one request. */
export type Responder = (req: NlMessage) => Uint8Array[];

/** A message to put in a canned reply: the payload after the nlmsghdr. */
export interface CannedMessage {
  type: number;
  flags?: number;
  payload: Uint8Array;
}

const frame = (req: NlMessage, m: CannedMessage): Uint8Array =>
  encodeMessage({ type: m.type, flags: m.flags ?? 0, seq: req.seq, pid: req.pid }, m.payload);

const joined = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};

const ackFor = (req: NlMessage, errno: number, extack?: string): Uint8Array =>
  frame(req, {
    type: NLMSG_ERROR,
    flags: NLM_F_CAPPED | (extack === undefined ? 0 : NLM_F_ACK_TLVS),
    payload: encodeErrorPayload(errno, req, extack),
  });

/** What a canned RTM_NEWLINK (a link lookup's answer) says about the link. */
export interface CannedLink {
  index: number;
  name: string;
  mtu?: number;
  mac?: string;
  txqlen?: number;
  up?: boolean;
  /** IFF_* bits; when given, they are the link's flags (else just IFF_UP from `up`). */
  flags?: number;
  alias?: string;
  masterIndex?: number;
  kind?: string;
  parentIndex?: number;
  macvlanMode?: MacvlanMode;
  ipvlanMode?: IpvlanMode;
  vlanId?: number;
  vrfTable?: number;
  tun?: Pick<TunInfo, 'type' | 'multiQueue' | 'owner' | 'group'>;
}

/** A link as the kernel describes it in RTM_NEWLINK, for reply.messages(). */
export function cannedLink(l: CannedLink): CannedMessage {
  const attrs: AttrSpec[] = [attr.str(IFLA_IFNAME, l.name), attr.u32(IFLA_MTU, l.mtu ?? 1500)];
  if (l.mac !== undefined) attrs.push(attr.bytes(IFLA_ADDRESS, parseMac(l.mac)));
  if (l.txqlen !== undefined) attrs.push(attr.u32(IFLA_TXQLEN, l.txqlen));
  if (l.masterIndex !== undefined) attrs.push(attr.u32(IFLA_MASTER, l.masterIndex));
  if (l.parentIndex !== undefined) attrs.push(attr.u32(IFLA_LINK, l.parentIndex));
  if (l.alias !== undefined) attrs.push(attr.str(IFLA_IFALIAS, l.alias));
  if (l.kind) {
    const data: AttrSpec[] = [];
    if (l.macvlanMode) data.push(attr.u32(IFLA_MACVLAN_MODE, MACVLAN_MODES[l.macvlanMode]));
    if (l.ipvlanMode) data.push(attr.u16(IFLA_IPVLAN_MODE, IPVLAN_MODES[l.ipvlanMode]));
    if (l.vlanId !== undefined) data.push(attr.u16(IFLA_VLAN_ID, l.vlanId));
    if (l.vrfTable !== undefined) data.push(attr.u32(IFLA_VRF_TABLE, l.vrfTable));
    if (l.tun) {
      data.push(attr.u8(IFLA_TUN_TYPE, l.tun.type === 'tap' ? 2 : 1), attr.u8(IFLA_TUN_PERSIST, 1));
      data.push(attr.u8(IFLA_TUN_MULTI_QUEUE, l.tun.multiQueue ? 1 : 0));
      if (l.tun.owner !== undefined) data.push(attr.u32(IFLA_TUN_OWNER, l.tun.owner));
      if (l.tun.group !== undefined) data.push(attr.u32(IFLA_TUN_GROUP, l.tun.group));
    }
    attrs.push(attr.nest(IFLA_LINKINFO, [attr.str(IFLA_INFO_KIND, l.kind), attr.nest(IFLA_INFO_DATA, data)]));
  }
  const header = encodeIfInfo({ index: l.index, flags: l.flags ?? (l.up ? 1 : 0) });
  const body = encodeAttrs(attrs);
  const payload = new Uint8Array(header.length + body.length);
  payload.set(header);
  payload.set(body, header.length);
  return { type: RTM_NEWLINK, payload };
}

const payloadOf = (header: Uint8Array, attrs: readonly AttrSpec[] = []): Uint8Array => {
  const body = encodeAttrs(attrs);
  const out = new Uint8Array(header.length + body.length);
  out.set(header);
  out.set(body, header.length);
  return out;
};

/** A qdisc as the kernel reports it (RTM_NEWQDISC): the same layout as the request that adds it. */
export function cannedQdisc(q: QdiscSpec): CannedMessage {
  const req = newQdisc(q);
  return { type: req.type, payload: payloadOf(req.header, req.attrs) };
}

/** A u32 filter's key node as a dump reports it (RTM_NEWTFILTER). */
export function cannedFilter(f: U32FilterSpec): CannedMessage {
  const req = newU32Filter(f);
  return { type: req.type, payload: payloadOf(req.header, req.attrs) };
}

/** Canned answers. */
export const reply = {
  /** The kernel's "done, no error". */
  ack: (): Responder => (req) => [ackFor(req, 0)],
  /** A refusal, with the kernel's extended-ack text when given. */
  error:
    (errno: string, extack?: string): Responder =>
    (req) => [ackFor(req, errnoNumber(errno), extack)],
  /** Messages (e.g. the RTM_NEWLINK a GET returns) followed by the ack. */
  messages:
    (...msgs: CannedMessage[]): Responder =>
    (req) => [joined([...msgs.map((m) => frame(req, m)), ackFor(req, 0)])],
  /** A dump: the messages (two per datagram, NLM_F_MULTI), then NLMSG_DONE. */
  dump:
    (msgs: readonly CannedMessage[], opts: { interrupted?: boolean } = {}): Responder =>
    (req) => {
      const extra = NLM_F_MULTI | (opts.interrupted ? NLM_F_DUMP_INTR : 0);
      const framed = msgs.map((m) => frame(req, { ...m, flags: (m.flags ?? 0) | extra }));
      const datagrams: Uint8Array[] = [];
      for (let i = 0; i < framed.length; i += 2) datagrams.push(joined(framed.slice(i, i + 2)));
      datagrams.push(frame(req, { type: NLMSG_DONE, flags: extra, payload: new Uint8Array(4) }));
      return datagrams;
    },
  /** Captured kernel datagrams, replayed with the request's sequence number. */
  raw:
    (...datagrams: Uint8Array[]): Responder =>
    (req) =>
      datagrams.map((d) => withSeq(d, req.seq)),
};

export class RecordingSocket implements RawSocket {
  /** One line per request, in order (see describe.ts). */
  readonly requests: string[] = [];
  /** The bytes of each request. */
  readonly sent: Uint8Array[] = [];
  closed = false;
  private readonly queue: Responder[] = [];
  private readonly pending: Uint8Array[] = [];

  /** Queues the answers to the next requests, in order. Unqueued requests get an ack (or an empty dump). */
  respond(...responders: Responder[]): this {
    this.queue.push(...responders);
    return this;
  }

  send(bytes: Uint8Array): void {
    const req = parseMessages(bytes)[0];
    if (!req) throw new Error('fake netlink: empty request');
    this.sent.push(Uint8Array.from(bytes));
    this.requests.push(describe(req));
    const responder = this.queue.shift() ?? (isDump(req) ? reply.dump([]) : reply.ack());
    this.pending.push(...responder(req));
  }

  recv(): Uint8Array {
    const d = this.pending.shift();
    if (!d) throw new Error('fake netlink: recv with nothing queued (the code waits for a reply that never comes)');
    return d;
  }

  tryRecv(): Uint8Array | undefined {
    return this.pending.shift();
  }

  close(): void {
    this.closed = true;
  }
}

const isDump = (m: NlMessage): boolean => (m.flags & NLM_F_DUMP) === NLM_F_DUMP;
