/**
 * The only module that touches bun:ffi: libc's socket calls for a NETLINK_ROUTE socket, and
 * setns(2) to run code on this thread inside another network namespace. Load it through
 * loadLibc() (socket.ts), never with a static import, so Node never sees bun:ffi.
 *
 * Everything here is synchronous on the JS thread: setns switches only the calling thread, and
 * no other JS can run until we have switched back.
 */
import { FFIType, dlopen, read, type Pointer } from 'bun:ffi';
import { closeSync, openSync } from 'node:fs';
import {
  AF_NETLINK,
  CLONE_NEWNET,
  MSG_TRUNC,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_GET_STRICT_CHK,
  NETLINK_ROUTE,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
  SO_RCVTIMEO,
} from './constants';
import { errnoNumber } from './errno';
import { NetlinkError, type RawSocket } from './socket';

const { i32, u32, u64, i64, ptr } = FFIType;

// glibc; a musl build would name it libc.musl-<arch>.so.1.
const lib = dlopen('libc.so.6', {
  socket: { args: [i32, i32, i32], returns: i32 },
  setsockopt: { args: [i32, i32, i32, ptr, u32], returns: i32 },
  send: { args: [i32, ptr, u64, i32], returns: i64 },
  recv: { args: [i32, ptr, u64, i32], returns: i64 },
  close: { args: [i32], returns: i32 },
  setns: { args: [i32, i32], returns: i32 },
  __errno_location: { args: [], returns: ptr },
});
const c = lib.symbols;

/** errno of the last failed libc call on this thread. */
function errno(): number {
  const p = c.__errno_location();
  return p === null ? 0 : read.i32(p as Pointer, 0);
}

const fail = (what: string): NetlinkError => new NetlinkError(errno(), what);

/** How long a recv may block: the kernel always answers at once, so this only guards bugs. */
const RECV_TIMEOUT_S = 10;
// Dump replies are at most 32 KiB per datagram; twice that leaves room.
const RECV_BUFFER = 64 * 1024;

function setIntOpt(fd: number, level: number, name: number, value: number, label: string): void {
  const v = new Int32Array([value]);
  if (c.setsockopt(fd, level, name, v, 4) < 0) throw fail(`setsockopt(${label})`);
}

/** socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) with extended acks and strict checks. */
function createSocket(): number {
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw fail('socket(AF_NETLINK)');
  try {
    // The kernel's error text (NLMSGERR_ATTR_MSG) instead of a bare errno.
    setIntOpt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1, 'NETLINK_EXT_ACK');
    // Acks without a copy of our request: smaller replies.
    setIntOpt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1, 'NETLINK_CAP_ACK');
    // Dumps honour the header filters (e.g. one link's addresses) and bad requests are refused.
    setIntOpt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1, 'NETLINK_GET_STRICT_CHK');
    const tv = new BigInt64Array([BigInt(RECV_TIMEOUT_S), 0n]); // struct timeval {tv_sec, tv_usec}
    if (c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) < 0) throw fail('setsockopt(SO_RCVTIMEO)');
  } catch (e) {
    c.close(fd);
    throw e;
  }
  return fd;
}

class LibcNetlinkSocket implements RawSocket {
  private fd: number;
  private readonly buf = new Uint8Array(RECV_BUFFER);

  constructor(fd: number) {
    this.fd = fd;
  }

  send(bytes: Uint8Array): void {
    for (;;) {
      const n = Number(c.send(this.fd, bytes, bytes.length, 0));
      if (n === bytes.length) return;
      if (n >= 0) throw new NetlinkError(errnoNumber('EMSGSIZE'), `send: ${n} of ${bytes.length} bytes sent`);
      if (errno() !== errnoNumber('EINTR')) throw fail('send(netlink)');
    }
  }

  recv(): Uint8Array {
    for (;;) {
      // MSG_TRUNC makes recv return the real size, so a datagram larger than the buffer is noticed.
      const n = Number(c.recv(this.fd, this.buf, this.buf.length, MSG_TRUNC));
      if (n > this.buf.length) throw new NetlinkError(errnoNumber('EMSGSIZE'), `recv: ${n}-byte datagram truncated`);
      // A copy: dump replies are kept across the next recv into the same buffer.
      if (n >= 0) return this.buf.slice(0, n);
      const e = errno();
      if (e === errnoNumber('EINTR')) continue;
      if (e === errnoNumber('EAGAIN')) {
        throw new NetlinkError(errnoNumber('ETIMEDOUT'), `recv(netlink): no reply in ${RECV_TIMEOUT_S}s`);
      }
      throw new NetlinkError(e, 'recv(netlink)');
    }
  }

  close(): void {
    if (this.fd >= 0) c.close(this.fd);
    this.fd = -1;
  }
}

/** Opens a netlink route socket here, or in the namespace at `netnsPath` (the socket stays there). */
export function openRawSocket(netnsPath?: string): RawSocket {
  return new LibcNetlinkSocket(netnsPath ? inNetns(netnsPath, createSocket) : createSocket());
}

/**
 * Runs `fn` with this thread switched into the network namespace at `nsPath`, then switches
 * back (also when `fn` throws). `fn` must be synchronous: a promise would run its remainder in
 * the wrong namespace, so it is refused. Throws if switching back fails: the thread would
 * otherwise go on in the container's namespace.
 */
export function inNetns<T>(nsPath: string, fn: () => T): T {
  const home = openSync('/proc/thread-self/ns/net', 'r');
  try {
    const target = openSync(nsPath, 'r');
    try {
      if (c.setns(target, CLONE_NEWNET) < 0) throw fail(`setns(${nsPath})`);
    } finally {
      closeSync(target);
    }
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: fn() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    if (c.setns(home, CLONE_NEWNET) < 0) {
      const e = fail(`setns back to the original namespace after ${nsPath}`);
      throw new NetlinkError(e.code, `${e.request}: this thread is stuck in ${nsPath}`);
    }
    if (!outcome.ok) throw outcome.error;
    const result = outcome.value;
    if (isThenable(result)) throw new Error(`inNetns(${nsPath}): the callback must be synchronous`);
    return result;
  } finally {
    closeSync(home);
  }
}

const isThenable = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
