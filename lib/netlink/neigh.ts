/**
 * Neighbours and forwarding-database entries (RTM_*NEIGH): decoding, and the replace / delete /
 * dump requests. A neighbour is an IP → MAC entry of one link (ARP / NDP cache); an FDB entry
 * (family AF_BRIDGE, NTF_SELF) is a MAC → remote entry of a device's own table, which on a
 * vxlan device says which underlay address a MAC sits behind.
 */
import {
  AF_BRIDGE,
  NDA_DST,
  NDA_IFINDEX,
  NDA_LLADDR,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_REPLACE,
  NTF_SELF,
  NUD_PERMANENT,
  RTM_DELNEIGH,
  RTM_GETNEIGH,
  RTM_NEWNEIGH,
  RTN_UNICAST,
} from './constants';
import { afOf, familyOf } from './addrs';
import { formatIp, formatMac, parseIp, parseMac } from './inet';
import { Attrs, attr, decodeNdMsg, encodeNdMsg, type AttrSpec, type NlMessage, type Request } from './message';
import type { Family } from '../addr/ip';

export interface Neighbour {
  index: number;
  family: Family;
  /** The neighbour's IP address. */
  address: string;
  /** Its MAC; absent while unresolved. */
  mac?: string;
  /** NUD_* */
  state: number;
  /** NTF_* */
  flags: number;
  permanent: boolean;
}

export interface FdbEntry {
  index: number;
  mac: string;
  /** The remote (a vxlan tunnel endpoint), when the entry has one. */
  dst?: string;
  state: number;
  flags: number;
  permanent: boolean;
}

/** Decodes an RTM_NEWNEIGH of family inet/inet6; undefined for other families or without an address. */
export function decodeNeighbour(m: NlMessage): Neighbour | undefined {
  const h = decodeNdMsg(m.payload);
  const family = familyOf(h.family);
  const a = Attrs.parse(m.payload, 12);
  const dst = a.bytes(NDA_DST);
  if (!family || !dst) return undefined;
  const n: Neighbour = {
    index: h.index,
    family,
    address: formatIp(dst),
    state: h.state,
    flags: h.flags,
    permanent: (h.state & NUD_PERMANENT) !== 0,
  };
  const mac = a.bytes(NDA_LLADDR);
  if (mac) n.mac = formatMac(mac);
  return n;
}

/** Decodes an RTM_NEWNEIGH of family AF_BRIDGE; undefined for anything else. */
export function decodeFdb(m: NlMessage): FdbEntry | undefined {
  const h = decodeNdMsg(m.payload);
  const a = Attrs.parse(m.payload, 12);
  const mac = a.bytes(NDA_LLADDR);
  if (h.family !== AF_BRIDGE || !mac) return undefined;
  const e: FdbEntry = {
    index: h.index,
    mac: formatMac(mac),
    state: h.state,
    flags: h.flags,
    permanent: (h.state & NUD_PERMANENT) !== 0,
  };
  const dst = a.bytes(NDA_DST);
  if (dst && (dst.length === 4 || dst.length === 16)) e.dst = formatIp(dst);
  return e;
}

/** Dumps one family's neighbours; with `index`, only that link's (NDA_IFINDEX filter). */
export const dumpNeighbours = (family: Family, index?: number): Request => ({
  type: RTM_GETNEIGH,
  flags: NLM_F_DUMP,
  header: encodeNdMsg({ family: afOf(family) }),
  attrs: index === undefined ? [] : [attr.u32(NDA_IFINDEX, index)],
});

/** A permanent IP → MAC entry on link `index`, added or replacing the one for that IP. */
export function replaceNeighbour(index: number, address: string, mac: string): Request {
  const ip = parseIp(address);
  return {
    type: RTM_NEWNEIGH,
    flags: NLM_F_CREATE | NLM_F_REPLACE,
    header: encodeNdMsg({ family: afOf(ip.family), index, state: NUD_PERMANENT, type: RTN_UNICAST }),
    attrs: [attr.bytes(NDA_DST, ip.bytes), attr.bytes(NDA_LLADDR, parseMac(mac))],
  };
}

export function delNeighbour(index: number, address: string): Request {
  const ip = parseIp(address);
  return {
    type: RTM_DELNEIGH,
    flags: 0,
    header: encodeNdMsg({ family: afOf(ip.family), index }),
    attrs: [attr.bytes(NDA_DST, ip.bytes)],
  };
}

/** Dumps the forwarding database of link `index` (its own entries and, for a bridge port, the bridge's). */
export const dumpFdb = (index: number): Request => ({
  type: RTM_GETNEIGH,
  flags: NLM_F_DUMP,
  // The strict dump check wants state, flags and type zero; the link goes in ndm_ifindex.
  header: encodeNdMsg({ family: AF_BRIDGE, index }),
});

/** A permanent MAC → `dst` entry in link `index`'s own table (NTF_SELF), replacing the MAC's remote. */
export function replaceFdb(index: number, mac: string, dst: string): Request {
  return {
    type: RTM_NEWNEIGH,
    flags: NLM_F_CREATE | NLM_F_REPLACE,
    header: encodeNdMsg({ family: AF_BRIDGE, index, state: NUD_PERMANENT, flags: NTF_SELF }),
    attrs: fdbAttrs(mac, dst),
  };
}

/** Deletes the MAC's entry; with `dst`, only its remote `dst`. */
export function delFdb(index: number, mac: string, dst?: string): Request {
  return {
    type: RTM_DELNEIGH,
    flags: 0,
    header: encodeNdMsg({ family: AF_BRIDGE, index, flags: NTF_SELF }),
    attrs: fdbAttrs(mac, dst),
  };
}

function fdbAttrs(mac: string, dst: string | undefined): AttrSpec[] {
  const out = [attr.bytes(NDA_LLADDR, parseMac(mac))];
  if (dst !== undefined) out.push(attr.bytes(NDA_DST, parseIp(dst).bytes));
  return out;
}
