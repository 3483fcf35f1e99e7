/**
 * Addresses (RTM_*ADDR): decoding, and the add / delete / dump requests. Addresses travel as
 * text in CIDR form (`10.0.0.2/24`, `fd00::2/64`).
 */
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IFA_ADDRESS,
  IFA_BROADCAST,
  IFA_FLAGS,
  IFA_F_DADFAILED,
  IFA_F_DEPRECATED,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  IFA_F_OPTIMISTIC,
  IFA_F_PERMANENT,
  IFA_F_SECONDARY,
  IFA_F_TENTATIVE,
  IFA_LABEL,
  IFA_LOCAL,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
} from './constants';
import { broadcastOf, formatIp, parsePrefix } from './inet';
import { Attrs, attr, decodeIfAddr, encodeIfAddr, type AttrSpec, type NlMessage, type Request } from './message';
import type { Family } from '../addr/ip';

export const afOf = (f: Family): number => (f === 4 ? AF_INET : AF_INET6);
export const familyOf = (af: number): Family | undefined => (af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined);

export interface AddrFlags {
  secondary: boolean;
  nodad: boolean;
  optimistic: boolean;
  dadfailed: boolean;
  deprecated: boolean;
  tentative: boolean;
  permanent: boolean;
  noprefixroute: boolean;
  /** IFA_F_* as received (IFA_FLAGS when present, else the header's 8 bits). */
  raw: number;
}

export interface Addr {
  index: number;
  family: Family;
  /** The address alone: `10.0.0.2`. */
  address: string;
  prefixLen: number;
  /** `10.0.0.2/24` */
  cidr: string;
  scope: number;
  /** Point-to-point peer, when IFA_ADDRESS differs from IFA_LOCAL. */
  peer?: string;
  broadcast?: string;
  label?: string;
  flags: AddrFlags;
}

export function decodeAddrFlags(raw: number): AddrFlags {
  const on = (bit: number): boolean => (raw & bit) !== 0;
  return {
    secondary: on(IFA_F_SECONDARY),
    nodad: on(IFA_F_NODAD),
    optimistic: on(IFA_F_OPTIMISTIC),
    dadfailed: on(IFA_F_DADFAILED),
    deprecated: on(IFA_F_DEPRECATED),
    tentative: on(IFA_F_TENTATIVE),
    permanent: on(IFA_F_PERMANENT),
    noprefixroute: on(IFA_F_NOPREFIXROUTE),
    raw,
  };
}

/** Decodes an RTM_NEWADDR message; undefined for families other than IPv4/IPv6. */
export function decodeAddr(m: NlMessage): Addr | undefined {
  const h = decodeIfAddr(m.payload);
  const family = familyOf(h.family);
  if (!family) return undefined;
  const a = Attrs.parse(m.payload, 8);
  // IPv4 puts the address in IFA_LOCAL (IFA_ADDRESS is the peer); IPv6 usually only sends IFA_ADDRESS.
  const local = a.bytes(IFA_LOCAL);
  const address = a.bytes(IFA_ADDRESS);
  const mine = local ?? address;
  if (!mine) return undefined;
  const text = formatIp(mine);
  const out: Addr = {
    index: h.index,
    family,
    address: text,
    prefixLen: h.prefixLen,
    cidr: `${text}/${h.prefixLen}`,
    scope: h.scope,
    flags: decodeAddrFlags(a.u32(IFA_FLAGS) ?? h.flags),
  };
  if (local && address && formatIp(address) !== text) out.peer = formatIp(address);
  const brd = a.bytes(IFA_BROADCAST);
  if (brd) out.broadcast = formatIp(brd);
  const label = a.str(IFA_LABEL);
  if (label) out.label = label;
  return out;
}

/** A dump of addresses, optionally one family and (with strict checking) one link. */
export const dumpAddrs = (family?: Family, index?: number): Request => ({
  type: RTM_GETADDR,
  flags: NLM_F_DUMP,
  header: encodeIfAddr({ family: family ? afOf(family) : AF_UNSPEC, index: index ?? 0 }),
});

export interface AddrOptions {
  /** Skip IPv6 duplicate address detection (the address is usable at once). */
  nodad?: boolean;
  /** Replace an existing address instead of failing with EEXIST. */
  replace?: boolean;
  /** Do not add the prefix route for the subnet. */
  noprefixroute?: boolean;
  scope?: number;
  /** IPv4 broadcast: computed from the prefix by default (like `brd +`); false for none. */
  broadcast?: boolean;
}

function addrBody(index: number, cidr: string, o: AddrOptions): { header: Uint8Array; attrs: AttrSpec[] } {
  const p = parsePrefix(cidr);
  let flags = 0;
  if (o.nodad) flags |= IFA_F_NODAD;
  if (o.noprefixroute) flags |= IFA_F_NOPREFIXROUTE;
  const attrs = [attr.bytes(IFA_LOCAL, p.bytes), attr.bytes(IFA_ADDRESS, p.bytes)];
  // The reference (Go netlink) sets the broadcast for IPv4 subnets that have one.
  if (p.family === 4 && p.len < 31 && o.broadcast !== false) attrs.push(attr.bytes(IFA_BROADCAST, broadcastOf(p)));
  // Bits above 0xff only fit in IFA_FLAGS; the header keeps the low byte for old kernels.
  if (flags) attrs.push(attr.u32(IFA_FLAGS, flags));
  return {
    header: encodeIfAddr({ family: afOf(p.family), prefixLen: p.len, flags, scope: o.scope ?? 0, index }),
    attrs,
  };
}

export function newAddr(index: number, cidr: string, o: AddrOptions = {}): Request {
  const { header, attrs } = addrBody(index, cidr, o);
  return { type: RTM_NEWADDR, flags: NLM_F_CREATE | (o.replace ? NLM_F_REPLACE : NLM_F_EXCL), header, attrs };
}

export function delAddr(index: number, cidr: string): Request {
  const p = parsePrefix(cidr);
  return {
    type: RTM_DELADDR,
    flags: 0,
    header: encodeIfAddr({ family: afOf(p.family), prefixLen: p.len, index }),
    attrs: [attr.bytes(IFA_LOCAL, p.bytes), attr.bytes(IFA_ADDRESS, p.bytes)],
  };
}
