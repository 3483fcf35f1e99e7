/**
 * The daemon's real Transport: a packet socket (AF_PACKET, SOCK_DGRAM, IPv4 only) bound to the
 * container's interface, made inside the container's network namespace and then used from the
 * daemon's own (a socket keeps the namespace it was made in). Non-blocking; the client polls it.
 * It is opened per exchange and closed after, so the daemon holds no reference to a container's
 * namespace between renewals and a namespace the runtime deletes really goes. Bun only.
 */
import { closeSync, fstatSync } from 'node:fs';
import { errnoName, errnoNumber, errnoText } from '../sys/errno';
import { libc } from '../sys/libc';
import { inNetns, openNetnsFd } from '../sys/netns';
import { openRtnl } from '../net/rtnl';
import type { Frame, Transport } from './client';

const AF_PACKET = 17;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;
const ETH_P_IP = 0x0800;
const MSG_DONTWAIT = 0x40;
const PACKET_OUTGOING = 4;
const SOCKADDR_LL = 20;

export class LinkError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'LinkError';
  }
}

/** The identity of a network namespace file: what tells a recreated namespace from the old one. */
export interface NetnsId {
  dev: number;
  ino: number;
}

/**
 * The namespace file's identity, or undefined when it is gone (or is no network namespace: a
 * FIFO named by a caller must not block the daemon, see lib/sys/netns.ts).
 */
export function netnsIdOf(path: string): NetnsId | undefined {
  let fd: number;
  try {
    fd = openNetnsFd(path);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    return { dev: st.dev, ino: st.ino };
  } finally {
    closeSync(fd);
  }
}

function sockaddrLl(ifindex: number, mac?: Uint8Array): Uint8Array {
  const sa = new Uint8Array(SOCKADDR_LL);
  const v = new DataView(sa.buffer);
  v.setUint16(0, AF_PACKET, true);
  v.setUint16(2, ETH_P_IP, false); // network byte order
  v.setInt32(4, ifindex, true);
  if (mac) {
    sa[11] = mac.length;
    sa.set(mac, 12);
  }
  return sa;
}

const fail = (what: string): Error => {
  const code = libc().errno();
  return new Error(`${what}: ${errnoText(code)} (${errnoName(code)})`);
};

class PacketSocket implements Transport {
  private fd: number;
  private readonly buf = new Uint8Array(65536);
  private readonly from = new Uint8Array(SOCKADDR_LL);
  private readonly fromLen = new Uint32Array(1);

  constructor(
    fd: number,
    private readonly ifindex: number,
    readonly ifName: string,
    readonly mac: Uint8Array,
  ) {
    this.fd = fd;
  }

  send(packet: Uint8Array, mac: Uint8Array): void {
    const to = sockaddrLl(this.ifindex, mac);
    for (;;) {
      const n = libc().sendto(this.fd, packet, packet.length, 0, to, to.length);
      if (n === packet.length) return;
      if (n < 0 && libc().errno() === errnoNumber('EINTR')) continue;
      throw n < 0 ? fail(`sending on ${this.ifName}`) : new Error(`sending on ${this.ifName}: short write`);
    }
  }

  tryReceive(): Frame | undefined {
    for (;;) {
      this.fromLen[0] = SOCKADDR_LL;
      const n = libc().recvfrom(this.fd, this.buf, this.buf.length, MSG_DONTWAIT, this.from, this.fromLen);
      if (n < 0) {
        const e = libc().errno();
        if (e === errnoNumber('EINTR')) continue;
        if (e === errnoNumber('EAGAIN')) return undefined;
        throw fail(`receiving on ${this.ifName}`);
      }
      if (this.from[10] === PACKET_OUTGOING) continue; // our own frames, seen on the way out
      const halen = Math.min(this.from[11] ?? 0, 8);
      return { packet: this.buf.slice(0, n), srcMac: this.from.slice(12, 12 + halen) };
    }
  }

  close(): void {
    if (this.fd >= 0) libc().close(this.fd);
    this.fd = -1;
  }
}

/**
 * A packet socket on `ifName` inside the namespace at `netns`. The interface is set up when it
 * is down (a macvlan is handed to IPAM before it is up, as in the reference). Throws LinkError
 * when the namespace or the interface is not there.
 */
export function openTransport(netns: string, ifName: string): Transport {
  const rtnl = (() => {
    try {
      return openRtnl(netns);
    } catch (e) {
      throw new LinkError(`cannot enter the network namespace ${netns}: ${(e as Error).message}`);
    }
  })();
  let link;
  try {
    link = rtnl.linkByName(ifName);
    if (!link) throw new LinkError(`error looking up ${JSON.stringify(ifName)}: no such interface in ${netns}`);
    if (!link.mac || link.mac.split(':').length !== 6)
      throw new LinkError(`${ifName} has no Ethernet address: DHCP needs one`);
    if (!link.flags.up) rtnl.setUp(link.index);
  } finally {
    rtnl.close();
  }
  const index = link.index;
  const mac = Uint8Array.from(link.mac.split(':').map((h) => parseInt(h, 16)));
  const fd = inNetns(netns, () => {
    const s = libc().socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) throw fail('socket(AF_PACKET)');
    const sa = sockaddrLl(index);
    if (libc().bind(s, sa, sa.length) < 0) {
      const err = fail(`bind to ${ifName}`);
      libc().close(s);
      throw err;
    }
    return s;
  });
  return new PacketSocket(fd, index, ifName, mac);
}

/** Sets the interface down (a lease that ended: the reference does the same). Best effort. */
export function setLinkDown(netns: string, ifName: string): void {
  const rtnl = openRtnl(netns);
  try {
    const link = rtnl.linkByName(ifName);
    if (link) rtnl.setDown(link.index);
  } finally {
    rtnl.close();
  }
}
