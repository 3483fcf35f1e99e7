/**
 * nftables change notifications: a NETLINK_NETFILTER socket joined to the NFNLGRP_NFTABLES
 * multicast group, on which the kernel announces every committed change to the ruleset of this
 * network namespace — `nft` and iptables-nft (`iptables -F`, `iptables-restore`) alike, since
 * both speak nf_tables. `tscni reload --watch` sleeps on it instead of polling the firewall:
 * the socket is read by a blocking read() on libuv's thread pool, so an idle watcher uses no CPU.
 *
 * The decoder is pure (unit-tested with bytes); the socket needs the C library (Bun only) and
 * CAP_NET_ADMIN. iptables-legacy changes are not announced (the watcher's periodic check covers them).
 */
import { read } from 'node:fs';
import { AF_NETLINK, SOCK_CLOEXEC, SOCK_RAW, SOL_SOCKET, SO_RCVBUF } from './constants';
import { Attrs, parseMessages } from './message';
import { libc } from '../sys/libc';
import { NetlinkError } from './socket';

// linux/netlink.h, linux/netfilter/nfnetlink.h, linux/netfilter/nf_tables.h
export const NETLINK_NETFILTER = 12;
export const NFNLGRP_NFTABLES = 7;
export const NFNL_SUBSYS_NFTABLES = 10;
/** struct nfgenmsg: family, version, res_id. */
const NFGENMSG_LEN = 4;

/** enum nf_tables_msg_types, by what each names and whether it adds or removes. */
const MSG: Readonly<Record<number, { object: NftObject; op: 'new' | 'del' | 'gen' }>> = {
  0: { object: 'table', op: 'new' },
  2: { object: 'table', op: 'del' },
  3: { object: 'chain', op: 'new' },
  5: { object: 'chain', op: 'del' },
  6: { object: 'rule', op: 'new' },
  8: { object: 'rule', op: 'del' },
  9: { object: 'set', op: 'new' },
  11: { object: 'set', op: 'del' },
  12: { object: 'element', op: 'new' },
  14: { object: 'element', op: 'del' },
  15: { object: 'generation', op: 'gen' },
  18: { object: 'object', op: 'new' },
  20: { object: 'object', op: 'del' },
  22: { object: 'flowtable', op: 'new' },
  24: { object: 'flowtable', op: 'del' },
};

export type NftObject = 'table' | 'chain' | 'rule' | 'set' | 'element' | 'generation' | 'object' | 'flowtable';

export interface NftEvent {
  readonly object: NftObject;
  /** 'gen' ends each committed transaction. */
  readonly op: 'new' | 'del' | 'gen';
  /** NFPROTO_*: 1 inet, 2 ip, 7 bridge, 10 ip6 (0 for a generation). */
  readonly family: number;
  /** The table the object belongs to (NFTA_*_TABLE, attribute 1 of every object but a generation). */
  readonly table?: string;
}

/** The events in one datagram; unknown message types (GET replies, traces) are left out. */
export function decodeNftEvents(datagram: Uint8Array): NftEvent[] {
  const out: NftEvent[] = [];
  for (const m of parseMessages(datagram)) {
    if (m.type >> 8 !== NFNL_SUBSYS_NFTABLES) continue;
    const kind = MSG[m.type & 0xff];
    if (!kind || m.payload.length < NFGENMSG_LEN) continue;
    const family = m.payload[0] ?? 0;
    const table = kind.op === 'gen' ? undefined : Attrs.parse(m.payload, NFGENMSG_LEN).str(1);
    out.push(table === undefined ? { ...kind, family } : { ...kind, family, table });
  }
  return out;
}

/** True when the events may have removed rules someone relies on (anything deleted). */
export const removesRules = (events: readonly NftEvent[]): boolean => events.some((e) => e.op === 'del');

export interface NftEventSource {
  close(): void;
}

/** What the listener hands on: the events of one datagram, or 'overflow' when some were lost. */
export type NftNotice = { readonly events: readonly NftEvent[] } | 'overflow';

/** Room for bursts (a flush of a large ruleset) before the kernel drops notices (ENOBUFS). */
const RCVBUF = 4 * 1024 * 1024;

/**
 * Listens in the current network namespace until close(). `onNotice` gets each datagram's
 * events; a lost burst (ENOBUFS) arrives as 'overflow' — the listener keeps going. `onError`
 * gets a socket error that ended the listener.
 */
export function listenNftEvents(onNotice: (n: NftNotice) => void, onError: (e: Error) => void): NftEventSource {
  const c = libc();
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) throw new NetlinkError(c.errno(), 'socket(NETLINK_NETFILTER)');
  // struct sockaddr_nl { family u16, pad u16, pid u32, groups u32 }: groups is a bit mask of groups 1..32.
  const sa = new Uint8Array(12);
  const v = new DataView(sa.buffer);
  v.setUint16(0, AF_NETLINK, true);
  v.setUint32(8, 1 << (NFNLGRP_NFTABLES - 1), true);
  if (c.bind(fd, sa, sa.length) < 0) {
    const err = new NetlinkError(c.errno(), 'bind(NETLINK_NETFILTER, NFNLGRP_NFTABLES)');
    c.close(fd);
    throw err;
  }
  c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, new Int32Array([RCVBUF]), 4); // best effort: capped by rmem_max
  let open = true;
  const buf = Buffer.alloc(64 * 1024);
  const next = (): void => {
    // One read() is one datagram; it blocks on a thread-pool thread, not the event loop.
    read(fd, buf, 0, buf.length, null, (err, n) => {
      if (!open) return;
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOBUFS') {
          onNotice('overflow');
          return next();
        }
        if ((err as NodeJS.ErrnoException).code === 'EINTR' || (err as NodeJS.ErrnoException).code === 'EAGAIN')
          return next();
        open = false;
        c.close(fd);
        return onError(err);
      }
      try {
        onNotice({ events: decodeNftEvents(buf.subarray(0, n)) });
      } catch {
        onNotice('overflow'); // a datagram we could not parse: treat as "something changed"
      }
      next();
    });
  };
  next();
  return {
    close(): void {
      if (!open) return;
      open = false;
      // The pending read() keeps its thread until the next notice; the process is ending anyway.
      c.close(fd);
    },
  };
}
