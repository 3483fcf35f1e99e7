/**
 * A DHCP server in memory and a Transport wired to it, for unit tests of the client and the lease
 * keeper (test-only module). The server hands out addresses from a
 * small pool, answers DISCOVER, REQUEST (selecting, renewing, rebinding, rebooting) and RELEASE
 * as RFC 2131 says, and records every message it saw.
 */
import { BROADCAST_MAC, type Frame, type Transport } from '../dhcp/client';
import { buildUdpPacket, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, parseUdpPacket } from '../dhcp/frame';
import {
  BOOTREPLY,
  decodeMessage,
  encodeMessage,
  ipToBytes,
  MessageType,
  messageTypeName,
  messageTypeOf,
  Opt,
  optIp,
  u32,
  type DhcpMessage,
} from '../dhcp/wire';

export const SERVER_IP = '10.9.0.1';
export const SERVER_MAC = Uint8Array.of(2, 0, 0, 0, 0, 1);

export interface FakeServerOptions {
  pool?: string[];
  leaseSeconds?: number;
  /** Extra options in every OFFER and ACK. */
  options?: Array<[number, Uint8Array]>;
  /** Return false to drop a message (no answer). */
  answer?: (m: DhcpMessage) => boolean;
  /** Answer REQUESTs in RENEWING/REBINDING/INIT-REBOOT with a NAK. */
  nakRenewals?: boolean;
}

export class FakeDhcpServer {
  readonly seen: string[] = [];
  /** client ID (hex) → address */
  readonly leases = new Map<string, string>();
  private readonly free: string[];

  constructor(readonly o: FakeServerOptions = {}) {
    this.free = [...(o.pool ?? ['10.9.0.10', '10.9.0.11', '10.9.0.12'])];
  }

  /** Handles one IPv4 packet from a client; returns the reply packet, if any. */
  handle(packet: Uint8Array, dstMac: Uint8Array): Uint8Array | undefined {
    const udp = parseUdpPacket(packet);
    if (!udp || udp.dstPort !== DHCP_SERVER_PORT) return undefined;
    const m = decodeMessage(udp.payload);
    const type = messageTypeOf(m);
    const unicast = dstMac.some((b, i) => b !== BROADCAST_MAC[i]);
    this.seen.push(`${messageTypeName(type)} ${udp.src}>${udp.dst}${unicast ? ' unicast' : ''} ciaddr=${m.ciaddr}`);
    if (this.o.answer && !this.o.answer(m)) return undefined;
    const cid = Buffer.from(m.options.get(Opt.ClientId) ?? new Uint8Array()).toString('hex');
    if (type === MessageType.Discover) {
      const ip = this.leases.get(cid) ?? this.free[0];
      if (!ip) return undefined;
      return this.reply(m, MessageType.Offer, ip);
    }
    if (type === MessageType.Request) {
      const selecting = optIp(m, Opt.ServerId);
      if (selecting && selecting !== SERVER_IP) return undefined;
      const wanted = optIp(m, Opt.RequestedIP) ?? m.ciaddr;
      if (!selecting && this.o.nakRenewals) return this.reply(m, MessageType.Nak, '0.0.0.0');
      const held = this.leases.get(cid);
      if (held !== undefined && held !== wanted) return this.reply(m, MessageType.Nak, '0.0.0.0');
      if (held === undefined) {
        const at = this.free.indexOf(wanted);
        if (at < 0) return this.reply(m, MessageType.Nak, '0.0.0.0');
        this.free.splice(at, 1);
        this.leases.set(cid, wanted);
      }
      return this.reply(m, MessageType.Ack, wanted);
    }
    if (type === MessageType.Release) {
      const held = this.leases.get(cid);
      if (held === m.ciaddr) {
        this.leases.delete(cid);
        this.free.unshift(held);
      }
    }
    return undefined;
  }

  private reply(req: DhcpMessage, type: number, yiaddr: string): Uint8Array {
    const options = new Map<number, Uint8Array>([
      [Opt.MessageType, Uint8Array.of(type)],
      [Opt.ServerId, ipToBytes(SERVER_IP)],
    ]);
    if (type !== MessageType.Nak) {
      options.set(Opt.LeaseTime, u32(this.o.leaseSeconds ?? 120));
      options.set(Opt.SubnetMask, ipToBytes('255.255.255.0'));
      options.set(Opt.Router, ipToBytes(SERVER_IP));
      for (const [c, v] of this.o.options ?? []) options.set(c, v);
    }
    const payload = encodeMessage({ ...req, op: BOOTREPLY, yiaddr, options });
    const dst = req.ciaddr !== '0.0.0.0' ? req.ciaddr : '255.255.255.255';
    return buildUdpPacket({ src: SERVER_IP, dst, srcPort: DHCP_SERVER_PORT, dstPort: DHCP_CLIENT_PORT, payload });
  }
}

/** A Transport whose sends go to `server` and whose receives are its replies. */
export class FakeTransport implements Transport {
  private readonly queue: Frame[] = [];
  closed = false;

  constructor(
    private readonly server: FakeDhcpServer,
    readonly mac: Uint8Array = Uint8Array.of(2, 0, 0, 0, 0, 0x42),
    readonly ifName = 'eth0',
  ) {}

  send(packet: Uint8Array, mac: Uint8Array): void {
    const reply = this.server.handle(packet, mac);
    if (reply) this.queue.push({ packet: reply, srcMac: SERVER_MAC });
  }

  tryReceive(): Frame | undefined {
    return this.queue.shift();
  }

  close(): void {
    this.closed = true;
  }
}
