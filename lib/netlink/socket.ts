/**
 * The request/reply protocol over a netlink socket: sequence numbers, acknowledgements, dumps
 * (NLM_F_DUMP until NLMSG_DONE, restarted when the kernel flags NLM_F_DUMP_INTR), and kernel
 * errors turned into NetlinkError. The socket itself is a RawSocket: the real one (ffi-socket.ts,
 * through the C library, Bun only) or a fake in tests (fake.ts).
 */
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  NLMSGERR_ATTR_MSG,
} from './constants';
import { describe } from './describe';
import { errnoName, errnoNumber, errnoText } from '../sys/errno';
import { available } from '../sys/libc';
import { openRawSocket } from './ffi-socket';
import { Attrs, decodeError, encodeMessage, parseMessages, type NlMessage, type Request } from './message';

/** A datagram socket speaking NETLINK_ROUTE. */
export interface RawSocket {
  send(bytes: Uint8Array): void;
  /** Blocks until the next datagram arrives; throws NetlinkError on a socket error or timeout. */
  recv(): Uint8Array;
  /** The next datagram if one is waiting, without blocking. */
  tryRecv(): Uint8Array | undefined;
  close(): void;
}

/**
 * A failed netlink request (or a socket / namespace syscall behind one). Branch on `errno`
 * ('ENODEV', 'EEXIST', ...), never on the message text.
 */
export class NetlinkError extends Error {
  /** The errno name, e.g. 'EEXIST'. */
  readonly errno: string;
  /** The errno number, e.g. 17. */
  readonly code: number;
  /** The failed request as one line (see describe.ts), or the syscall that failed. */
  readonly request: string;
  /** The kernel's extended-ack explanation, when it sent one. */
  readonly extack?: string;

  constructor(code: number, request: string, extack?: string) {
    super(`${request}: ${errnoText(code)} (${errnoName(code)})${extack ? `: ${extack}` : ''}`);
    this.name = 'NetlinkError';
    this.errno = errnoName(code);
    this.code = code;
    this.request = request;
    if (extack) this.extack = extack;
  }
}

/** True when `e` is a NetlinkError with one of the given errno names. */
export const isErrno = (e: unknown, ...names: string[]): e is NetlinkError =>
  e instanceof NetlinkError && names.includes(e.errno);

/** How many times a dump is restarted when the kernel says it was inconsistent. */
export const DUMP_ATTEMPTS = 5;

export interface NetlinkOptions {
  /** Called with each request's one-line description before it is sent (debug logs). */
  trace?: (line: string) => void;
}

/** Synchronous request/reply over one RawSocket; owns the socket. */
export class NetlinkSocket {
  private seq: number;
  private readonly raw: RawSocket;
  private readonly trace: ((line: string) => void) | undefined;

  constructor(raw: RawSocket, opts: NetlinkOptions = {}) {
    this.raw = raw;
    this.trace = opts.trace;
    // Distinct starting points keep replies of two sockets apart in traces.
    this.seq = (Date.now() & 0xffff) << 8;
  }

  /**
   * Sends a request with NLM_F_ACK and waits for the acknowledgement; returns the messages that
   * came before it (the object, for a GET). Throws NetlinkError when the kernel refuses.
   */
  request(req: Request): NlMessage[] {
    const { seq, bytes } = this.frame(req, NLM_F_REQUEST | NLM_F_ACK);
    this.raw.send(bytes);
    const replies: NlMessage[] = [];
    for (;;) {
      if (this.takeReplies(this.raw.recv(), seq, bytes, replies)) return replies;
    }
  }

  /**
   * `request` for changes the kernel takes long to make (deleting a veth waits ~20 ms for the
   * network stack to quiesce): the answer is polled for, so the event loop keeps serving other
   * work, e.g. firewall commands running beside it, meanwhile.
   */
  async requestAsync(req: Request, pollMs = 1): Promise<NlMessage[]> {
    const { seq, bytes } = this.frame(req, NLM_F_REQUEST | NLM_F_ACK);
    this.raw.send(bytes);
    const replies: NlMessage[] = [];
    for (;;) {
      const datagram = this.raw.tryRecv();
      if (datagram === undefined) await new Promise((r) => setTimeout(r, pollMs));
      else if (this.takeReplies(datagram, seq, bytes, replies)) return replies;
    }
  }

  /** Adds the replies to `seq` in one datagram to `replies`; true once the answer is complete. */
  private takeReplies(datagram: Uint8Array, seq: number, sent: Uint8Array, replies: NlMessage[]): boolean {
    for (const m of parseMessages(datagram)) {
      if (m.seq !== seq || m.type === NLMSG_NOOP) continue;
      if (m.type === NLMSG_ERROR) {
        const e = decodeError(m);
        if (e.errno === 0) return true;
        throw new NetlinkError(e.errno, `netlink ${describe(sent)}`, e.extack);
      }
      if (m.type === NLMSG_DONE) return true;
      replies.push(m);
    }
    return false;
  }

  /**
   * Dumps (NLM_F_DUMP) and returns every object message. A dump the kernel marks as interrupted
   * (the table changed meanwhile) is thrown away and restarted, up to DUMP_ATTEMPTS times.
   */
  dump(req: Request): NlMessage[] {
    let sent: Uint8Array = new Uint8Array();
    for (let attempt = 1; attempt <= DUMP_ATTEMPTS; attempt++) {
      const { seq, bytes } = this.frame(req, NLM_F_REQUEST | NLM_F_DUMP);
      sent = bytes;
      this.raw.send(bytes);
      const { messages, interrupted } = this.collectDump(seq, bytes);
      if (!interrupted) return messages;
    }
    throw new NetlinkError(
      errnoNumber('EINTR'),
      `netlink ${describe(sent)}`,
      `dump interrupted ${DUMP_ATTEMPTS} times in a row`,
    );
  }

  private collectDump(seq: number, sent: Uint8Array): { messages: NlMessage[]; interrupted: boolean } {
    const messages: NlMessage[] = [];
    let interrupted = false;
    for (;;) {
      for (const m of parseMessages(this.raw.recv())) {
        if (m.seq !== seq || m.type === NLMSG_NOOP) continue;
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        if (m.type === NLMSG_ERROR) {
          const e = decodeError(m);
          if (e.errno !== 0) throw new NetlinkError(e.errno, `netlink ${describe(sent)}`, e.extack);
          continue;
        }
        if (m.type === NLMSG_OVERRUN) throw new NetlinkError(errnoNumber('ENOBUFS'), `netlink ${describe(sent)}`);
        if (m.type === NLMSG_DONE) {
          doneError(m, sent);
          return { messages, interrupted };
        }
        messages.push(m);
      }
    }
  }

  private frame(req: Request, base: number): { seq: number; bytes: Uint8Array } {
    this.seq = (this.seq + 1) >>> 0 || 1;
    const bytes = encodeMessage(
      { type: req.type, flags: base | req.flags, seq: this.seq },
      req.header,
      req.attrs ?? [],
    );
    if (this.trace) this.trace(describe(bytes));
    return { seq: this.seq, bytes };
  }

  close(): void {
    this.raw.close();
  }
}

/** NLMSG_DONE carries an int: negative when the dump failed part-way, then optional TLVs. */
function doneError(m: NlMessage, sent: Uint8Array): void {
  if (m.payload.length < 4) return;
  const err = new DataView(m.payload.buffer, m.payload.byteOffset, 4).getInt32(0, true);
  if (err >= 0) return;
  const extack = m.flags & NLM_F_ACK_TLVS ? Attrs.parse(m.payload, 4).str(NLMSGERR_ATTR_MSG) : undefined;
  throw new NetlinkError(-err, `netlink ${describe(sent)}`, extack);
}

// ---------------------------------------------------------------------------------------------
// The real socket (Bun only)

/** True under Bun, where the C library (and so a real netlink socket) can be called. */
export const isBun = (): boolean => available();

/** Opens a NETLINK_ROUTE socket in this namespace, or inside the one at `netnsPath`. */
export function openNetlink(opts: NetlinkOptions & { netnsPath?: string } = {}): NetlinkSocket {
  return new NetlinkSocket(openRawSocket(opts.netnsPath), opts);
}
