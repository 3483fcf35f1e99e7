/**
 * IPv4 + UDP framing for DHCP over a packet socket (AF_PACKET, SOCK_DGRAM: the kernel adds the
 * Ethernet header). A client without an address must send from 0.0.0.0 and take replies sent to
 * an address it does not have yet, which the kernel's UDP sockets do not do; so the daemon builds
 * and parses these headers itself. Pure.
 */
import { bytesToIp, ipToBytes } from './wire';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
const IPPROTO_UDP = 17;
const IP_HEADER = 20;
const UDP_HEADER = 8;
const TTL = 64;

function checksum(parts: readonly Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i += 2) sum += ((p[i] as number) << 8) | (p[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface UdpDatagram {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** An IPv4 packet carrying one UDP datagram, both checksums filled in. */
export function buildUdpPacket(d: UdpDatagram, id = 0): Uint8Array {
  const total = IP_HEADER + UDP_HEADER + d.payload.length;
  const pkt = new Uint8Array(total);
  const v = new DataView(pkt.buffer);
  pkt[0] = 0x45; // version 4, 5 words of header
  v.setUint16(2, total);
  v.setUint16(4, id & 0xffff);
  pkt[8] = TTL;
  pkt[9] = IPPROTO_UDP;
  pkt.set(ipToBytes(d.src), 12);
  pkt.set(ipToBytes(d.dst), 16);
  v.setUint16(10, checksum([pkt.subarray(0, IP_HEADER)]));
  const udp = pkt.subarray(IP_HEADER);
  const uv = new DataView(pkt.buffer, IP_HEADER);
  uv.setUint16(0, d.srcPort);
  uv.setUint16(2, d.dstPort);
  uv.setUint16(4, UDP_HEADER + d.payload.length);
  udp.set(d.payload, UDP_HEADER);
  const pseudo = new Uint8Array(12);
  pseudo.set(pkt.subarray(12, 20), 0);
  pseudo[9] = IPPROTO_UDP;
  new DataView(pseudo.buffer).setUint16(10, UDP_HEADER + d.payload.length);
  // The UDP checksum is summed over an even number of bytes: pad a copy when the payload is odd.
  const body = udp.length % 2 === 0 ? udp : Uint8Array.from([...udp, 0]);
  const sum = checksum([pseudo, body]);
  uv.setUint16(6, sum === 0 ? 0xffff : sum);
  return pkt;
}

/**
 * The UDP datagram in an IPv4 packet, or undefined for anything else: other protocols,
 * fragments, bad lengths or a bad header checksum.
 */
export function parseUdpPacket(pkt: Uint8Array): UdpDatagram | undefined {
  if (pkt.length < IP_HEADER + UDP_HEADER || (pkt[0] as number) >> 4 !== 4) return undefined;
  const ihl = ((pkt[0] as number) & 0x0f) * 4;
  const v = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  const total = v.getUint16(2);
  if (ihl < IP_HEADER || total > pkt.length || total < ihl + UDP_HEADER || pkt[9] !== IPPROTO_UDP) return undefined;
  if ((v.getUint16(6) & 0x3fff) !== 0) return undefined; // a fragment (MF set or an offset)
  if (checksum([pkt.subarray(0, ihl)]) !== 0) return undefined;
  const udpLen = v.getUint16(ihl + 4);
  if (udpLen < UDP_HEADER || ihl + udpLen > total) return undefined;
  // The UDP checksum is not checked: a packet socket sees local and virtual (veth, macvlan)
  // traffic before the checksum is filled in (offload), so a correct packet can carry a partial
  // one. The DHCP layer checks the transaction ID, the client's address and the magic cookie.
  return {
    src: bytesToIp(pkt, 12),
    dst: bytesToIp(pkt, 16),
    srcPort: v.getUint16(ihl),
    dstPort: v.getUint16(ihl + 2),
    payload: pkt.slice(ihl + UDP_HEADER, ihl + udpLen),
  };
}
