/**
 * The real netlink socket: a NETLINK_ROUTE socket (or NETLINK_NETFILTER, for nftables.ts) made
 * and used through the C library (lib/sys/libc.ts), optionally created inside another network
 * namespace.
 */
import {
  AF_NETLINK,
  MSG_DONTWAIT,
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
import { libc } from '../sys/libc';
import { inNetns } from '../sys/netns';
import { errnoNumber } from '../sys/errno';
import { NetlinkError, type RawSocket } from './socket';

const errno = (): number => libc().errno();
const fail = (what: string): NetlinkError => new NetlinkError(errno(), what);

/** How long a recv may block: the kernel always answers at once, so this only guards bugs. */
const RECV_TIMEOUT_S = 10;
// Dump replies are at most 32 KiB per datagram; twice that leaves room.
const RECV_BUFFER = 64 * 1024;

function setIntOpt(fd: number, level: number, name: number, value: number, label: string): void {
  const v = new Int32Array([value]);
  if (libc().setsockopt(fd, level, name, v, 4) < 0) throw fail(`setsockopt(${label})`);
}

/** socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) with extended acks and strict checks. */
function createSocket(protocol = NETLINK_ROUTE): number {
  const fd = libc().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw fail('socket(AF_NETLINK)');
  try {
    // The kernel's error text (NLMSGERR_ATTR_MSG) instead of a bare errno.
    setIntOpt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1, 'NETLINK_EXT_ACK');
    // Acks without a copy of our request: smaller replies.
    setIntOpt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1, 'NETLINK_CAP_ACK');
    // Dumps honour the header filters (e.g. one link's addresses) and bad requests are refused.
    setIntOpt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1, 'NETLINK_GET_STRICT_CHK');
    const tv = new BigInt64Array([BigInt(RECV_TIMEOUT_S), 0n]); // struct timeval {tv_sec, tv_usec}
    if (libc().setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) < 0) throw fail('setsockopt(SO_RCVTIMEO)');
  } catch (e) {
    libc().close(fd);
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
      const n = libc().send(this.fd, bytes, bytes.length, 0);
      if (n === bytes.length) return;
      if (n >= 0) throw new NetlinkError(errnoNumber('EMSGSIZE'), `send: ${n} of ${bytes.length} bytes sent`);
      if (errno() !== errnoNumber('EINTR')) throw fail('send(netlink)');
    }
  }

  tryRecv(): Uint8Array | undefined {
    for (;;) {
      const n = libc().recv(this.fd, this.buf, this.buf.length, MSG_TRUNC | MSG_DONTWAIT);
      if (n > this.buf.length) throw new NetlinkError(errnoNumber('EMSGSIZE'), `recv: ${n}-byte datagram truncated`);
      if (n >= 0) return this.buf.slice(0, n);
      const e = errno();
      if (e === errnoNumber('EINTR')) continue;
      if (e === errnoNumber('EAGAIN')) return undefined;
      throw new NetlinkError(e, 'recv(netlink)');
    }
  }

  recv(): Uint8Array {
    for (;;) {
      // MSG_TRUNC makes recv return the real size, so a datagram larger than the buffer is noticed.
      const n = libc().recv(this.fd, this.buf, this.buf.length, MSG_TRUNC);
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
    if (this.fd >= 0) libc().close(this.fd);
    this.fd = -1;
  }
}

/** Opens a netlink route socket here, or in the namespace at `netnsPath` (the socket stays there). */
export function openRawSocket(netnsPath?: string, protocol = NETLINK_ROUTE): RawSocket {
  const create = (): number => createSocket(protocol);
  return new LibcNetlinkSocket(netnsPath ? inNetns(netnsPath, create) : create());
}
