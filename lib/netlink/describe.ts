/**
 * One readable line per request, decoded back from the bytes that go to the kernel, e.g.
 * `RTM_NEWLINK create excl veth name=veth1234 mtu=1500 peer(name=eth0 netns=fd:7)` or
 * `RTM_NEWQDISC create excl dev=7 parent=root handle=1: tbf rate=1000000 buffer=156250 limit=35000`.
 * Used in error messages, debug logs and golden tests (so it must stay deterministic).
 */
import {
  AF_BRIDGE,
  NFT_GETTABLE,
  NFTA_TABLE_NAME,
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IFA_ADDRESS,
  IFA_BROADCAST,
  IFA_FLAGS,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  IFA_LABEL,
  IFA_LOCAL,
  IFF_ALLMULTI,
  IFF_PROMISC,
  IFF_UP,
  IFLA_ADDRESS,
  IFLA_BRPORT_ISOLATED,
  IFLA_BRPORT_LEARNING,
  IFLA_BRPORT_MODE,
  IFLA_EXT_MASK,
  IFLA_IFALIAS,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_IPVLAN_MODE,
  IFLA_LINK,
  IFLA_LINKINFO,
  IFLA_MACVLAN_BC_QUEUE_LEN,
  IFLA_MACVLAN_MODE,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  IFLA_NET_NS_PID,
  IFLA_PROTINFO,
  IFLA_TXQLEN,
  IFLA_VLAN_ID,
  IFLA_VRF_TABLE,
  IFLA_BR_VLAN_FILTERING,
  IFLA_VXLAN_ID,
  IFLA_VXLAN_LEARNING,
  IFLA_VXLAN_LINK,
  IFLA_VXLAN_LOCAL,
  IFLA_VXLAN_LOCAL6,
  IFLA_VXLAN_PORT,
  NDA_DST,
  NDA_IFINDEX,
  NDA_LLADDR,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_ECHO,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTA_DST,
  RTA_GATEWAY,
  RTA_METRICS,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTAX_ADVMSS,
  RTAX_MTU,
  RTNH_F_ONLINK,
  NTF_SELF,
  NUD_PERMANENT,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETNEIGH,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTM_SETLINK,
  RTM_DELRULE,
  RTM_GETRULE,
  RTM_NEWRULE,
  FIB_RULE_HDR_LEN,
  FRA_DST,
  FRA_PRIORITY,
  FRA_SRC,
  FRA_TABLE,
  RTM_DELQDISC,
  RTM_DELTCLASS,
  RTM_DELTFILTER,
  RTM_GETQDISC,
  RTM_GETTCLASS,
  RTM_GETTFILTER,
  RTM_NEWQDISC,
  RTM_NEWTCLASS,
  RTM_NEWTFILTER,
  ETH_P_ALL,
  ETH_P_IP,
  ETH_P_IPV6,
  VETH_INFO_PEER,
} from './constants';
import { formatIp, formatMac } from './inet';
import { IPVLAN_MODES, MACVLAN_MODES } from './links';
import { decodeRuleHeader } from './rules';
import { Attrs, decodeIfAddr, decodeIfInfo, decodeNdMsg, decodeRtMsg, parseMessages, type NlMessage } from './message';
import { decodeClass, decodeFilter, decodeQdisc, decodeTcMsg, formatHandle, type U32Key } from './tc';

const TYPE_NAMES: Readonly<Record<number, string>> = {
  [NFT_GETTABLE]: 'NFT_MSG_GETTABLE',
  [RTM_NEWLINK]: 'RTM_NEWLINK',
  [RTM_DELLINK]: 'RTM_DELLINK',
  [RTM_GETLINK]: 'RTM_GETLINK',
  [RTM_SETLINK]: 'RTM_SETLINK',
  [RTM_NEWADDR]: 'RTM_NEWADDR',
  [RTM_DELADDR]: 'RTM_DELADDR',
  [RTM_GETADDR]: 'RTM_GETADDR',
  [RTM_NEWROUTE]: 'RTM_NEWROUTE',
  [RTM_DELROUTE]: 'RTM_DELROUTE',
  [RTM_GETROUTE]: 'RTM_GETROUTE',
  [RTM_NEWRULE]: 'RTM_NEWRULE',
  [RTM_DELRULE]: 'RTM_DELRULE',
  [RTM_GETRULE]: 'RTM_GETRULE',
  [RTM_NEWNEIGH]: 'RTM_NEWNEIGH',
  [RTM_DELNEIGH]: 'RTM_DELNEIGH',
  [RTM_GETNEIGH]: 'RTM_GETNEIGH',
  [RTM_NEWQDISC]: 'RTM_NEWQDISC',
  [RTM_DELQDISC]: 'RTM_DELQDISC',
  [RTM_GETQDISC]: 'RTM_GETQDISC',
  [RTM_NEWTCLASS]: 'RTM_NEWTCLASS',
  [RTM_DELTCLASS]: 'RTM_DELTCLASS',
  [RTM_GETTCLASS]: 'RTM_GETTCLASS',
  [RTM_NEWTFILTER]: 'RTM_NEWTFILTER',
  [RTM_DELTFILTER]: 'RTM_DELTFILTER',
  [RTM_GETTFILTER]: 'RTM_GETTFILTER',
};
const PROTOCOL_NAMES: Readonly<Record<number, string>> = { [ETH_P_ALL]: 'all', [ETH_P_IP]: 'ip', [ETH_P_IPV6]: 'ipv6' };
const TC_TYPES = [
  RTM_NEWQDISC,
  RTM_DELQDISC,
  RTM_GETQDISC,
  RTM_NEWTCLASS,
  RTM_DELTCLASS,
  RTM_GETTCLASS,
  RTM_NEWTFILTER,
  RTM_DELTFILTER,
  RTM_GETTFILTER,
];
const GET_TYPES = [
  NFT_GETTABLE,
  RTM_GETLINK,
  RTM_GETADDR,
  RTM_GETROUTE,
  RTM_GETRULE,
  RTM_GETNEIGH,
  RTM_GETQDISC,
  RTM_GETTCLASS,
  RTM_GETTFILTER,
];
const FAMILY_NAMES: Readonly<Record<number, string>> = {
  [AF_UNSPEC]: 'unspec',
  [AF_INET]: 'inet',
  [AF_INET6]: 'inet6',
  [AF_BRIDGE]: 'bridge',
};
export const SCOPE_NAMES: Readonly<Record<number, string>> = {
  0: 'universe',
  200: 'site',
  253: 'link',
  254: 'host',
  255: 'nowhere',
};
export const TABLE_NAMES: Readonly<Record<number, string>> = { 253: 'default', 254: 'main', 255: 'local' };
export const PROTO_NAMES: Readonly<Record<number, string>> = {
  1: 'redirect',
  2: 'kernel',
  3: 'boot',
  4: 'static',
  9: 'ra',
  16: 'dhcp',
};
export const ROUTE_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'unicast',
  2: 'local',
  3: 'broadcast',
  4: 'anycast',
  5: 'multicast',
  6: 'blackhole',
  7: 'unreachable',
  8: 'prohibit',
  9: 'throw',
};

const named = (table: Readonly<Record<number, string>>, n: number): string => table[n] ?? String(n);
const isKind = (t: number, ...types: number[]): boolean => types.includes(t);

/** Describes one request: an encoded message (bytes) or an already split message. */
export function describe(msg: Uint8Array | NlMessage): string {
  const m = msg instanceof Uint8Array ? parseMessages(msg)[0] : msg;
  if (!m) return '(empty netlink message)';
  const words = [TYPE_NAMES[m.type] ?? `RTM_${m.type}`, ...flagWords(m)];
  try {
    if (isKind(m.type, RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK)) words.push(...linkWords(m.payload));
    else if (isKind(m.type, RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR)) words.push(...addrWords(m.payload));
    else if (isKind(m.type, RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE)) words.push(...routeWords(m.payload));
    else if (isKind(m.type, RTM_NEWRULE, RTM_DELRULE, RTM_GETRULE)) words.push(...ruleWords(m.payload));
    else if (isKind(m.type, RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH)) words.push(...neighWords(m.payload));
    else if (TC_TYPES.includes(m.type)) words.push(...tcWords(m));
    else if (m.type === NFT_GETTABLE) words.push(...nftTableWords(m.payload));
  } catch (e) {
    words.push(`(undecodable: ${e instanceof Error ? e.message : String(e)})`);
  }
  return words.join(' ');
}

/** nfgenmsg's family (NFPROTO_*) and the table name. */
function nftTableWords(p: Uint8Array): string[] {
  const family = NFPROTO_NAMES[p[0] ?? 0] ?? String(p[0]);
  return [`family=${family}`, `name=${Attrs.parse(p, 4).str(NFTA_TABLE_NAME) ?? ''}`];
}
const NFPROTO_NAMES: Readonly<Record<number, string>> = { 1: 'inet', 2: 'ip', 10: 'ip6' };

function flagWords(m: NlMessage): string[] {
  const out: string[] = [];
  const isGet = GET_TYPES.includes(m.type);
  if (isGet) {
    if ((m.flags & NLM_F_DUMP) === NLM_F_DUMP) out.push('dump');
  } else {
    if (m.flags & NLM_F_CREATE) out.push('create');
    if (m.flags & NLM_F_EXCL) out.push('excl');
    if (m.flags & NLM_F_REPLACE) out.push('replace');
    if (m.flags & NLM_F_APPEND) out.push('append');
  }
  if (m.flags & NLM_F_ECHO) out.push('echo');
  return out;
}

function linkWords(p: Uint8Array): string[] {
  const h = decodeIfInfo(p);
  const a = Attrs.parse(p, 16);
  const out: string[] = [];
  if (h.family !== AF_UNSPEC) out.push(`family=${named(FAMILY_NAMES, h.family)}`);
  const info = a.nested(IFLA_LINKINFO);
  const kind = info.str(IFLA_INFO_KIND);
  if (kind) out.push(kind);
  if (h.index) out.push(`index=${h.index}`);
  const change = (bit: number, on: string, off: string): void => {
    if (h.change & bit) out.push(h.flags & bit ? on : off);
  };
  change(IFF_UP, 'up', 'down');
  change(IFF_PROMISC, 'promisc=on', 'promisc=off');
  change(IFF_ALLMULTI, 'allmulti=on', 'allmulti=off');
  out.push(...linkAttrWords(a));
  if (kind) out.push(...kindDataWords(kind, info.nested(IFLA_INFO_DATA)));
  if (a.has(IFLA_PROTINFO)) out.push(`protinfo(${portWords(a.nested(IFLA_PROTINFO)).join(' ')})`);
  return out;
}

/** The per-link attributes, in the order they were sent. */
function linkAttrWords(a: Attrs): string[] {
  const out: string[] = [];
  for (const at of a.list) {
    const one = new Attrs([at]);
    switch (at.type) {
      case IFLA_IFNAME:
        out.push(`name=${one.str(IFLA_IFNAME)}`);
        break;
      case IFLA_MTU:
        out.push(`mtu=${one.u32(IFLA_MTU)}`);
        break;
      case IFLA_ADDRESS:
        out.push(`mac=${formatMac(at.data)}`);
        break;
      case IFLA_TXQLEN:
        out.push(`txqlen=${one.u32(IFLA_TXQLEN)}`);
        break;
      case IFLA_MASTER: {
        const master = one.u32(IFLA_MASTER);
        out.push(master ? `master=${master}` : 'nomaster');
        break;
      }
      case IFLA_LINK:
        out.push(`link=${one.u32(IFLA_LINK)}`);
        break;
      case IFLA_NET_NS_FD:
        out.push(`netns=fd:${one.s32(IFLA_NET_NS_FD)}`);
        break;
      case IFLA_IFALIAS:
        out.push(`alias=${JSON.stringify(one.str(IFLA_IFALIAS) ?? '')}`);
        break;
      case IFLA_NET_NS_PID:
        out.push(`netns=pid:${one.u32(IFLA_NET_NS_PID)}`);
        break;
      case IFLA_LINKINFO:
      case IFLA_PROTINFO:
      case IFLA_EXT_MASK:
        break;
      default:
        out.push(`attr${at.type}(${at.data.length}B)`);
    }
  }
  return out;
}

function kindDataWords(kind: string, data: Attrs): string[] {
  const out: string[] = [];
  if (kind === 'veth') {
    const peer = data.bytes(VETH_INFO_PEER);
    if (peer) out.push(`peer(${linkAttrWords(Attrs.parse(peer, 16)).join(' ')})`);
  } else if (kind === 'macvlan') {
    const mode = data.u32(IFLA_MACVLAN_MODE);
    if (mode !== undefined) out.push(`mode=${modeName(MACVLAN_MODES, mode)}`);
    const bcq = data.u32(IFLA_MACVLAN_BC_QUEUE_LEN);
    if (bcq !== undefined) out.push(`bcqueuelen=${bcq}`);
  } else if (kind === 'ipvlan') {
    const mode = data.u16(IFLA_IPVLAN_MODE);
    if (mode !== undefined) out.push(`mode=${modeName(IPVLAN_MODES, mode)}`);
  } else if (kind === 'vlan') {
    const id = data.u16(IFLA_VLAN_ID);
    if (id !== undefined) out.push(`id=${id}`);
  } else if (kind === 'vrf') {
    const table = data.u32(IFLA_VRF_TABLE);
    if (table !== undefined) out.push(`table=${table}`);
  } else if (kind === 'bridge') {
    const filtering = data.u8(IFLA_BR_VLAN_FILTERING);
    if (filtering !== undefined) out.push(`vlan_filtering=${filtering}`);
  } else if (kind === 'vxlan') {
    const vni = data.u32(IFLA_VXLAN_ID);
    if (vni !== undefined) out.push(`vni=${vni}`);
    const local = data.bytes(IFLA_VXLAN_LOCAL) ?? data.bytes(IFLA_VXLAN_LOCAL6);
    if (local) out.push(`local=${formatIp(local)}`);
    const dev = data.u32(IFLA_VXLAN_LINK);
    if (dev !== undefined) out.push(`dev=${dev}`);
    const port = data.bytes(IFLA_VXLAN_PORT);
    if (port && port.length === 2) out.push(`dstport=${((port[0] ?? 0) << 8) | (port[1] ?? 0)}`);
    const learning = data.u8(IFLA_VXLAN_LEARNING);
    if (learning !== undefined) out.push(learning ? 'learning' : 'nolearning');
  }
  return out;
}

const modeName = (table: Readonly<Record<string, number>>, n: number): string =>
  Object.keys(table).find((k) => table[k] === n) ?? String(n);

function portWords(p: Attrs): string[] {
  const out: string[] = [];
  const onOff = (type: number, word: string): void => {
    const v = p.u8(type);
    if (v !== undefined) out.push(`${word}=${v ? 'on' : 'off'}`);
  };
  onOff(IFLA_BRPORT_MODE, 'hairpin');
  onOff(IFLA_BRPORT_LEARNING, 'learning');
  onOff(IFLA_BRPORT_ISOLATED, 'isolated');
  return out;
}

function addrWords(p: Uint8Array): string[] {
  const h = decodeIfAddr(p);
  const a = Attrs.parse(p, 8);
  const out: string[] = [];
  if (h.family !== AF_UNSPEC && !a.has(IFA_LOCAL) && !a.has(IFA_ADDRESS)) {
    out.push(`family=${named(FAMILY_NAMES, h.family)}`);
  }
  if (h.index) out.push(`index=${h.index}`);
  const local = a.bytes(IFA_LOCAL) ?? a.bytes(IFA_ADDRESS);
  if (local) out.push(`${formatIp(local)}/${h.prefixLen}`);
  const peer = a.bytes(IFA_ADDRESS);
  if (peer && local && formatIp(peer) !== formatIp(local)) out.push(`peer=${formatIp(peer)}`);
  const brd = a.bytes(IFA_BROADCAST);
  if (brd) out.push(`brd=${formatIp(brd)}`);
  const label = a.str(IFA_LABEL);
  if (label) out.push(`label=${label}`);
  if (h.scope) out.push(`scope=${named(SCOPE_NAMES, h.scope)}`);
  const flags = a.u32(IFA_FLAGS) ?? h.flags;
  if (flags & IFA_F_NODAD) out.push('nodad');
  if (flags & IFA_F_NOPREFIXROUTE) out.push('noprefixroute');
  return out;
}

function routeWords(p: Uint8Array): string[] {
  const h = decodeRtMsg(p);
  const a = Attrs.parse(p, 12);
  const out: string[] = [];
  const dst = a.bytes(RTA_DST);
  if (dst) out.push(`${formatIp(dst)}/${h.dstLen}`);
  else if (h.family === AF_INET || h.family === AF_INET6) {
    // No RTA_DST in an add/del is the default route; in a dump request it is just the family.
    if (h.dstLen === 0 && (h.type || h.protocol || h.scope || h.table)) {
      out.push(h.family === AF_INET ? '0.0.0.0/0' : '::/0');
    } else out.push(`family=${named(FAMILY_NAMES, h.family)}`);
  }
  const gw = a.bytes(RTA_GATEWAY);
  if (gw) out.push(`via=${formatIp(gw)}`);
  const oif = a.u32(RTA_OIF);
  if (oif !== undefined) out.push(`oif=${oif}`);
  const src = a.bytes(RTA_PREFSRC);
  if (src) out.push(`src=${formatIp(src)}`);
  const metric = a.u32(RTA_PRIORITY);
  if (metric !== undefined) out.push(`metric=${metric}`);
  const metrics = a.nested(RTA_METRICS);
  const mtu = metrics?.u32(RTAX_MTU);
  if (mtu !== undefined) out.push(`mtu=${mtu}`);
  const advmss = metrics?.u32(RTAX_ADVMSS);
  if (advmss !== undefined) out.push(`advmss=${advmss}`);
  const table = a.u32(RTA_TABLE) ?? h.table;
  if (table) out.push(`table=${named(TABLE_NAMES, table)}`);
  if (h.protocol) out.push(`proto=${named(PROTO_NAMES, h.protocol)}`);
  if (h.scope || h.type) out.push(`scope=${named(SCOPE_NAMES, h.scope)}`);
  if (h.type) out.push(`type=${named(ROUTE_TYPE_NAMES, h.type)}`);
  if (h.flags & RTNH_F_ONLINK) out.push('onlink');
  return out;
}

function neighWords(p: Uint8Array): string[] {
  const h = decodeNdMsg(p);
  const a = Attrs.parse(p, 12);
  const out: string[] = [];
  if (h.family === AF_BRIDGE) out.push('fdb');
  else out.push(`family=${named(FAMILY_NAMES, h.family)}`);
  if (h.index) out.push(`index=${h.index}`);
  const ifindex = a.u32(NDA_IFINDEX);
  if (ifindex !== undefined) out.push(`index=${ifindex}`);
  const mac = a.bytes(NDA_LLADDR);
  const dst = a.bytes(NDA_DST);
  // An FDB entry reads MAC → remote; a neighbour IP → MAC.
  if (h.family === AF_BRIDGE) {
    if (mac) out.push(formatMac(mac));
    if (dst) out.push(`dst=${formatIp(dst)}`);
  } else {
    if (dst) out.push(formatIp(dst));
    if (mac) out.push(`lladdr=${formatMac(mac)}`);
  }
  if (h.state & NUD_PERMANENT) out.push('permanent');
  if (h.flags & NTF_SELF) out.push('self');
  return out;
}

const RULE_ACTION_NAMES: Readonly<Record<number, string>> = {
  1: 'lookup',
  2: 'goto',
  3: 'nop',
  6: 'blackhole',
  7: 'unreachable',
  8: 'prohibit',
};

function ruleWords(p: Uint8Array): string[] {
  const h = decodeRuleHeader(p);
  const a = Attrs.parse(p, FIB_RULE_HDR_LEN);
  const src = a.bytes(FRA_SRC);
  const dst = a.bytes(FRA_DST);
  const out: string[] = [];
  if (!src && !dst) out.push(`family=${named(FAMILY_NAMES, h.family)}`);
  if (src) out.push(`from=${formatIp(src)}/${h.srcLen}`);
  if (dst) out.push(`to=${formatIp(dst)}/${h.dstLen}`);
  const pref = a.u32(FRA_PRIORITY);
  if (pref !== undefined) out.push(`pref=${pref}`);
  if (h.action) out.push(named(RULE_ACTION_NAMES, h.action));
  const table = a.u32(FRA_TABLE) ?? h.table;
  if (table) out.push(`table=${named(TABLE_NAMES, table)}`);
  return out;
}

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');
const keyWords = (keys: readonly U32Key[]): string[] =>
  keys.map((k) => `match=${hex8(k.value)}/${hex8(k.mask)}@${k.offset}`);

/** Qdiscs, classes and filters: the link, where it hangs, its kind and what it is told. */
function tcWords(m: NlMessage): string[] {
  const h = decodeTcMsg(m.payload);
  const out: string[] = [];
  if (h.index) out.push(`dev=${h.index}`);
  if (h.parent) out.push(`parent=${formatHandle(h.parent)}`);
  const filter = isKind(m.type, RTM_NEWTFILTER, RTM_DELTFILTER, RTM_GETTFILTER);
  if (h.handle) out.push(`${isKind(m.type, RTM_NEWTCLASS) ? 'classid' : 'handle'}=${formatHandle(h.handle)}`);
  if (filter && h.info) {
    const f = decodeFilter(m);
    out.push(`prio=${f.prio}`, `proto=${PROTOCOL_NAMES[f.protocol] ?? `0x${f.protocol.toString(16)}`}`);
    if (f.kind) out.push(f.kind);
    if (f.u32?.keys) out.push(...keyWords(f.u32.keys));
    if (f.u32?.classid !== undefined) out.push(`classid=${formatHandle(f.u32.classid)}`);
    for (const a of f.u32?.actions ?? []) {
      const mi = a.mirred;
      out.push(mi ? `${a.kind}(${mi.direction} dev=${mi.ifindex} ${mi.verdict})` : a.kind);
    }
    return out;
  }
  if (isKind(m.type, RTM_NEWQDISC, RTM_DELQDISC)) {
    const q = decodeQdisc(m);
    if (q.kind) out.push(q.kind);
    if (q.tbf) out.push(`rate=${q.tbf.rate}`, `buffer=${q.tbf.buffer}`, `limit=${q.tbf.limit}`);
    if (q.htb) out.push(`default=${q.htb.defaultClass.toString(16)}`, `r2q=${q.htb.rate2quantum}`);
    if (q.fifoLimit !== undefined) out.push(`limit=${q.fifoLimit}`);
  } else if (isKind(m.type, RTM_NEWTCLASS)) {
    const c = decodeClass(m);
    if (c.kind) out.push(c.kind);
    const p = c.htb;
    if (p) {
      out.push(`rate=${p.rate}`, `ceil=${p.ceil}`, `buffer=${p.buffer}`, `cbuffer=${p.cbuffer}`);
      out.push(`quantum=${p.quantum}`);
    }
  }
  return out;
}
