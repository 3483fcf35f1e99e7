/**
 * The DHCP client's exchanges (RFC 2131 §3–4): acquiring (DISCOVER → OFFER → REQUEST → ACK),
 * renewing (unicast REQUEST to the server), rebinding (broadcast REQUEST), rebooting (a REQUEST
 * for the address held before) and releasing. Written against the `Transport` seam, so unit
 * tests drive it with a fake server; the daemon gives it a packet socket in the container's
 * namespace (packet-socket.ts). Waiting polls the socket on timers: the daemon stays one thread.
 */
import { buildUdpPacket, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, parseUdpPacket } from './frame';
import type { LeaseOptions } from './options';
import {
  BOOTREPLY,
  BOOTREQUEST,
  BROADCAST_FLAG,
  decodeMessage,
  encodeMessage,
  ipToBytes,
  MessageType,
  messageTypeOf,
  Opt,
  optIp,
  type DhcpMessage,
} from './wire';

export const BROADCAST_MAC = new Uint8Array([255, 255, 255, 255, 255, 255]);
const ANY = '0.0.0.0';
const BROADCAST_IP = '255.255.255.255';

/** A frame the packet socket received: the IPv4 packet and the sender's link-layer address. */
export interface Frame {
  packet: Uint8Array;
  srcMac: Uint8Array;
}

/** The container's interface as a packet socket sees it. */
export interface Transport {
  readonly ifName: string;
  readonly mac: Uint8Array;
  /** Sends an IPv4 packet in a frame to `mac`. */
  send(packet: Uint8Array, mac: Uint8Array): void;
  /** The next frame waiting, or undefined. */
  tryReceive(): Frame | undefined;
  close(): void;
}

export interface Timing {
  /** Longest wait for one answer before the request is sent again (-timeout). */
  timeoutMs: number;
  /** Longest pause between two sends (-resendmax). */
  resendMaxMs: number;
}

/** Clock, sleep and randomness, passed in so unit tests can run an exchange in virtual time. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
}

export const realClock: Clock = {
  now: () => Date.now(),
  random: () => Math.random(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    }),
};

export class DhcpError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'DhcpError';
  }
}

/** Everything the client says about itself in each message. */
export interface ClientIdentity {
  /** Option 61's value: type 0 and the reference's `<id>/<network>/<ifname>`, unless `provide` replaces it. */
  clientId: Uint8Array;
  options: LeaseOptions;
  /** Ask servers to broadcast their replies (-broadcast). */
  broadcast: boolean;
}

export interface Ack {
  ack: DhcpMessage;
  /** The payload as received (persisted, and parsed again after a restart). */
  raw: Uint8Array;
  /** The link-layer address the ACK came from: the server, or the relay in front of it. */
  serverMac: Uint8Array;
  /** When the ACK arrived (ms since the epoch); the lease's timers count from here. */
  at: number;
}

interface Reply {
  msg: DhcpMessage;
  raw: Uint8Array;
  srcMac: Uint8Array;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export const clientIdOption = (clientId: string): Uint8Array =>
  Uint8Array.from([0, ...Buffer.from(clientId, 'latin1')]);

export class DhcpClient {
  constructor(
    private readonly t: Transport,
    private readonly id: ClientIdentity,
    private readonly timing: Timing,
    private readonly clock: Clock = realClock,
  ) {}

  private newXid(): number {
    return Math.floor(this.clock.random() * 0x1_0000_0000) >>> 0;
  }

  private message(type: number, xid: number, o: { ciaddr?: string; extra?: Array<[number, Uint8Array]> }): Uint8Array {
    const options = new Map<number, Uint8Array>();
    options.set(Opt.MessageType, Uint8Array.of(type));
    options.set(Opt.ClientId, this.id.clientId);
    for (const [code, value] of o.extra ?? []) options.set(code, value);
    // DECLINE and RELEASE carry no requests or parameters (RFC 2131 table 5).
    if (type !== MessageType.Release && type !== MessageType.Decline) {
      if (this.id.options.request.length > 0)
        options.set(Opt.ParameterRequestList, Uint8Array.from(this.id.options.request));
      for (const [code, value] of this.id.options.provide) options.set(code, Buffer.from(value, 'utf8'));
    }
    const chaddr = new Uint8Array(16);
    chaddr.set(this.t.mac);
    return encodeMessage({
      op: BOOTREQUEST,
      htype: 1,
      hlen: 6,
      hops: 0,
      xid,
      secs: 0,
      flags: this.id.broadcast && !o.ciaddr ? BROADCAST_FLAG : 0,
      ciaddr: o.ciaddr ?? ANY,
      yiaddr: ANY,
      siaddr: ANY,
      giaddr: ANY,
      chaddr,
      options,
    });
  }

  private send(payload: Uint8Array, src: string, dst: string, mac: Uint8Array): void {
    const packet = buildUdpPacket({ src, dst, srcPort: DHCP_CLIENT_PORT, dstPort: DHCP_SERVER_PORT, payload });
    this.t.send(packet, mac);
  }

  /** The next reply to `xid` for this client, polled until `waitMs` has passed. */
  private async await(xid: number, waitMs: number, signal?: AbortSignal): Promise<Reply | undefined> {
    const until = this.clock.now() + waitMs;
    let pause = 2;
    while (!signal?.aborted) {
      for (let f = this.t.tryReceive(); f; f = this.t.tryReceive()) {
        const r = this.accept(f, xid);
        if (r) return r;
      }
      const left = until - this.clock.now();
      if (left <= 0) return undefined;
      await this.clock.sleep(Math.min(pause, left), signal);
      pause = Math.min(pause * 2, 50);
    }
    return undefined;
  }

  private accept(f: Frame, xid: number): Reply | undefined {
    const udp = parseUdpPacket(f.packet);
    if (!udp || udp.srcPort !== DHCP_SERVER_PORT) return undefined;
    let msg: DhcpMessage;
    try {
      msg = decodeMessage(udp.payload);
    } catch {
      return undefined;
    }
    if (msg.op !== BOOTREPLY || msg.xid !== xid || !sameBytes(msg.chaddr.subarray(0, 6), this.t.mac)) return undefined;
    return { msg, raw: udp.payload, srcMac: f.srcMac };
  }

  /**
   * Sends `build()` and waits for a reply `wanted` accepts; sends again on the reference's
   * schedule (2 s four times, then 4 s doubling up to resendMax, ±1 s, each wait at most
   * timeout) until `deadline`. Replies `wanted` does not accept are ignored.
   */
  private async transact(
    send: () => void,
    xid: number,
    wanted: (r: Reply) => boolean,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<Reply | undefined> {
    let attempt = 0;
    let backoff = 4000;
    while (!signal?.aborted && this.clock.now() < deadline) {
      send();
      const base = attempt < 4 ? 2000 : backoff;
      if (attempt >= 4) backoff = Math.min(backoff * 2, this.timing.resendMaxMs);
      attempt++;
      const jitter = (this.clock.random() * 2 - 1) * 1000;
      const wait = Math.min(Math.max(base + jitter, 500), this.timing.timeoutMs, deadline - this.clock.now());
      const until = this.clock.now() + wait;
      for (;;) {
        const r = await this.await(xid, until - this.clock.now(), signal);
        if (!r) break;
        if (wanted(r)) return r;
      }
    }
    return undefined;
  }

  /** INIT: DISCOVER, take the first OFFER, REQUEST it, until an ACK (a NAK starts over). */
  async acquire(deadline: number, signal?: AbortSignal, requested?: string): Promise<Ack> {
    for (let round = 0; round < 4; round++) {
      const xid = this.newXid();
      const hint: Array<[number, Uint8Array]> = requested ? [[Opt.RequestedIP, ipToBytes(requested)]] : [];
      const discover = this.message(MessageType.Discover, xid, { extra: hint });
      const offer = await this.transact(
        () => this.send(discover, ANY, BROADCAST_IP, BROADCAST_MAC),
        xid,
        (r) => messageTypeOf(r.msg) === MessageType.Offer && r.msg.yiaddr !== ANY && !!optIp(r.msg, Opt.ServerId),
        deadline,
        signal,
      );
      if (!offer) break;
      const server = optIp(offer.msg, Opt.ServerId) as string;
      const request = this.message(MessageType.Request, xid, {
        extra: [
          [Opt.RequestedIP, ipToBytes(offer.msg.yiaddr)],
          [Opt.ServerId, ipToBytes(server)],
        ],
      });
      const answer = await this.transact(
        () => this.send(request, ANY, BROADCAST_IP, BROADCAST_MAC),
        xid,
        (r) => isAckOrNak(r.msg) && (optIp(r.msg, Opt.ServerId) ?? server) === server,
        deadline,
        signal,
      );
      if (!answer) break;
      if (messageTypeOf(answer.msg) === MessageType.Ack) return this.bound(answer);
      // NAK: the offer is gone (taken meanwhile); start over with a new transaction.
    }
    if (signal?.aborted) throw new DhcpError('cancelled');
    throw new DhcpError(`no DHCP lease on ${this.t.ifName}: no answer from a DHCP server`);
  }

  /**
   * INIT-REBOOT: asks any server for the address held before (after the daemon was down past the
   * lease's end). An ACK keeps it; a NAK or silence is reported as such.
   */
  async reboot(ip: string, deadline: number, signal?: AbortSignal): Promise<Ack | 'nak' | undefined> {
    const xid = this.newXid();
    const request = this.message(MessageType.Request, xid, { extra: [[Opt.RequestedIP, ipToBytes(ip)]] });
    const r = await this.transact(
      () => this.send(request, ANY, BROADCAST_IP, BROADCAST_MAC),
      xid,
      (x) => isAckOrNak(x.msg),
      deadline,
      signal,
    );
    return this.outcome(r);
  }

  /** RENEWING: a REQUEST for `ip` to the server that granted it, from `ip` (ciaddr set, no server id). */
  async renew(
    ip: string,
    server: string,
    serverMac: Uint8Array,
    waitUntil: number,
    signal?: AbortSignal,
  ): Promise<Ack | 'nak' | undefined> {
    const xid = this.newXid();
    const request = this.message(MessageType.Request, xid, { ciaddr: ip });
    const r = await this.transact(
      () => this.send(request, ip, server, serverMac),
      xid,
      (x) => isAckOrNak(x.msg),
      waitUntil,
      signal,
    );
    return this.outcome(r);
  }

  /** REBINDING: the same REQUEST broadcast, for any server to answer. */
  async rebind(ip: string, waitUntil: number, signal?: AbortSignal): Promise<Ack | 'nak' | undefined> {
    const xid = this.newXid();
    const request = this.message(MessageType.Request, xid, { ciaddr: ip });
    const r = await this.transact(
      () => this.send(request, ip, BROADCAST_IP, BROADCAST_MAC),
      xid,
      (x) => isAckOrNak(x.msg),
      waitUntil,
      signal,
    );
    return this.outcome(r);
  }

  /** DHCPRELEASE to the server (no answer comes). The server's MAC: the one its ACK came from. */
  release(ip: string, server: string, serverMac: Uint8Array | undefined): void {
    const xid = this.newXid();
    const msg = this.message(MessageType.Release, xid, { ciaddr: ip, extra: [[Opt.ServerId, ipToBytes(server)]] });
    this.send(msg, ip, server, serverMac ?? BROADCAST_MAC);
  }

  private outcome(r: Reply | undefined): Ack | 'nak' | undefined {
    if (!r) return undefined;
    return messageTypeOf(r.msg) === MessageType.Ack ? this.bound(r) : 'nak';
  }

  private bound(r: Reply): Ack {
    return { ack: r.msg, raw: r.raw, serverMac: r.srcMac, at: this.clock.now() };
  }
}

const isAckOrNak = (m: DhcpMessage): boolean => {
  const t = messageTypeOf(m);
  return t === MessageType.Ack || t === MessageType.Nak;
};
