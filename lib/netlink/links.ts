/**
 * Links (RTM_*LINK): decoding a kernel link message into a plain object, and building the
 * requests that create, change, delete and look up links. Pure; the socket is elsewhere.
 */
import {
  AF_BRIDGE,
  AF_UNSPEC,
  IFF_ALLMULTI,
  IFF_BROADCAST,
  IFF_LOOPBACK,
  IFF_LOWER_UP,
  IFF_MASTER,
  IFF_MULTICAST,
  IFF_NOARP,
  IFF_PROMISC,
  IFF_RUNNING,
  IFF_SLAVE,
  IFF_UP,
  IFLA_ADDRESS,
  IFLA_ALLMULTI,
  IFLA_BRPORT_ISOLATED,
  IFLA_BRPORT_LEARNING,
  IFLA_BRPORT_MODE,
  IFLA_BRPORT_STATE,
  IFLA_BROADCAST,
  IFLA_EXT_MASK,
  IFLA_IFALIAS,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_INFO_SLAVE_DATA,
  IFLA_INFO_SLAVE_KIND,
  IFLA_IPVLAN_MODE,
  IFLA_LINK,
  IFLA_LINKINFO,
  IFLA_BR_VLAN_FILTERING,
  IFLA_LINK_NETNSID,
  IFLA_MACVLAN_BC_QUEUE_LEN,
  IFLA_MACVLAN_MODE,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  IFLA_OPERSTATE,
  IFLA_PROMISCUITY,
  IFLA_PROTINFO,
  IFLA_TUN_GROUP,
  IFLA_TUN_MULTI_QUEUE,
  IFLA_TUN_NUM_QUEUES,
  IFLA_TUN_OWNER,
  IFLA_TUN_PERSIST,
  IFLA_TUN_PI,
  IFLA_TUN_TYPE,
  IFLA_TUN_VNET_HDR,
  IFLA_TXQLEN,
  IFLA_VLAN_ID,
  IFLA_VRF_TABLE,
  IFLA_VXLAN_ID,
  IFLA_VXLAN_LEARNING,
  IFLA_VXLAN_LINK,
  IFLA_VXLAN_LOCAL,
  IFLA_VXLAN_LOCAL6,
  IFLA_VXLAN_PORT,
  IPVLAN_MODE_L2,
  IPVLAN_MODE_L3,
  IPVLAN_MODE_L3S,
  MACVLAN_MODE_BRIDGE,
  MACVLAN_MODE_PASSTHRU,
  MACVLAN_MODE_PRIVATE,
  MACVLAN_MODE_SOURCE,
  MACVLAN_MODE_VEPA,
  NLA_F_NESTED,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  OPER_STATES,
  RTEXT_FILTER_SKIP_STATS,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
  RTM_SETLINK,
  VETH_INFO_PEER,
} from './constants';
import { formatIp, formatMac, parseIp, parseMac } from './inet';
import {
  Attrs,
  attr,
  decodeIfInfo,
  encodeAttrs,
  encodeIfInfo,
  type AttrSpec,
  type NlMessage,
  type Request,
} from './message';

// ---------------------------------------------------------------------------------------------
// Modes (names as iproute2 spells them)

export type MacvlanMode = 'private' | 'vepa' | 'bridge' | 'passthru' | 'source';
export type IpvlanMode = 'l2' | 'l3' | 'l3s';

export const MACVLAN_MODES: Readonly<Record<MacvlanMode, number>> = {
  private: MACVLAN_MODE_PRIVATE,
  vepa: MACVLAN_MODE_VEPA,
  bridge: MACVLAN_MODE_BRIDGE,
  passthru: MACVLAN_MODE_PASSTHRU,
  source: MACVLAN_MODE_SOURCE,
};
export const IPVLAN_MODES: Readonly<Record<IpvlanMode, number>> = {
  l2: IPVLAN_MODE_L2,
  l3: IPVLAN_MODE_L3,
  l3s: IPVLAN_MODE_L3S,
};
const nameOf = <K extends string>(table: Readonly<Record<K, number>>, n: number): K | undefined =>
  (Object.keys(table) as K[]).find((k) => table[k] === n);

// ---------------------------------------------------------------------------------------------
// Decoding

export interface LinkFlags {
  up: boolean;
  broadcast: boolean;
  loopback: boolean;
  running: boolean;
  noarp: boolean;
  promisc: boolean;
  allmulti: boolean;
  master: boolean;
  slave: boolean;
  multicast: boolean;
  lowerUp: boolean;
  /** ifi_flags as received (IFF_*). */
  raw: number;
}

/** What the kernel reports of a tun/tap device (`ip -d link` prints the same). */
export interface TunInfo {
  type: 'tun' | 'tap';
  pi: boolean;
  vnetHdr: boolean;
  multiQueue: boolean;
  persist: boolean;
  /** Absent when the device has no owner / group. */
  owner?: number;
  group?: number;
  /** Queues attached right now (a process holding the device open). */
  numQueues?: number;
}

/** A bridge port's settings, read from IFLA_INFO_SLAVE_DATA. */
export interface BridgePort {
  hairpin: boolean;
  isolated: boolean;
  learning?: boolean;
  /** STP state (0 disabled … 3 forwarding). */
  state?: number;
}

/** A vxlan device's settings, read from IFLA_INFO_DATA. */
export interface VxlanInfo {
  vni: number;
  /** UDP destination port (the kernel's default, 8472, when the device was made without one). */
  port?: number;
  /** The local tunnel endpoint address. */
  local?: string;
  /** The underlay link (IFLA_VXLAN_LINK). */
  parentIndex?: number;
  learning: boolean;
}

export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND: 'bridge', 'veth', 'macvlan', ...; undefined for physical links and lo. */
  kind?: string;
  /** IFLA_INFO_SLAVE_KIND: 'bridge' when this link is a bridge port. */
  slaveKind?: string;
  mtu: number;
  mac?: string;
  broadcast?: string;
  flags: LinkFlags;
  /** IFLA_MASTER: the bridge (or bond) this link is enslaved to. */
  masterIndex?: number;
  /** IFLA_LINK: the parent (macvlan, vlan) or the peer index (veth); may be in another netns. */
  parentIndex?: number;
  /** IFLA_LINK_NETNSID: set when parentIndex lives in another namespace. */
  linkNetnsId?: number;
  txqlen?: number;
  /** IFLA_PROMISCUITY: how many users asked for promiscuous mode. */
  promiscuity?: number;
  /** IFLA_ALLMULTI: how many users asked for all-multicast (kernel ≥ 6.0). */
  allmulti?: number;
  operstate: string;
  /** IFLA_IFALIAS: the free-text alias (`ip link set X alias ...`). */
  alias?: string;
  macvlanMode?: MacvlanMode;
  ipvlanMode?: IpvlanMode;
  vlanId?: number;
  /** The routing table of a VRF device. */
  vrfTable?: number;
  tun?: TunInfo;
  vxlan?: VxlanInfo;
  bridgePort?: BridgePort;
}

export function decodeFlags(raw: number): LinkFlags {
  const on = (bit: number): boolean => (raw & bit) !== 0;
  return {
    up: on(IFF_UP),
    broadcast: on(IFF_BROADCAST),
    loopback: on(IFF_LOOPBACK),
    running: on(IFF_RUNNING),
    noarp: on(IFF_NOARP),
    promisc: on(IFF_PROMISC),
    allmulti: on(IFF_ALLMULTI),
    master: on(IFF_MASTER),
    slave: on(IFF_SLAVE),
    multicast: on(IFF_MULTICAST),
    lowerUp: on(IFF_LOWER_UP),
    raw,
  };
}

/** Decodes an RTM_NEWLINK message (from a dump or a get). */
export function decodeLink(m: NlMessage): Link {
  const h = decodeIfInfo(m.payload);
  const a = Attrs.parse(m.payload, 16);
  const link: Link = {
    index: h.index,
    name: a.str(IFLA_IFNAME) ?? '',
    mtu: a.u32(IFLA_MTU) ?? 0,
    flags: decodeFlags(h.flags),
    operstate: OPER_STATES[a.u8(IFLA_OPERSTATE) ?? 0] ?? 'unknown',
  };
  const mac = a.bytes(IFLA_ADDRESS);
  if (mac) link.mac = formatMac(mac);
  const brd = a.bytes(IFLA_BROADCAST);
  if (brd) link.broadcast = formatMac(brd);
  setIf(link, 'masterIndex', a.u32(IFLA_MASTER));
  setIf(link, 'parentIndex', a.s32(IFLA_LINK));
  setIf(link, 'linkNetnsId', a.s32(IFLA_LINK_NETNSID));
  setIf(link, 'txqlen', a.u32(IFLA_TXQLEN));
  setIf(link, 'promiscuity', a.u32(IFLA_PROMISCUITY));
  setIf(link, 'allmulti', a.u32(IFLA_ALLMULTI));
  const alias = a.str(IFLA_IFALIAS);
  if (alias) link.alias = alias;

  const info = a.nested(IFLA_LINKINFO);
  const kind = info.str(IFLA_INFO_KIND);
  if (kind) {
    link.kind = kind;
    const data = info.nested(IFLA_INFO_DATA);
    if (kind === 'macvlan' || kind === 'macvtap') {
      const mode = data.u32(IFLA_MACVLAN_MODE);
      if (mode !== undefined) setIf(link, 'macvlanMode', nameOf(MACVLAN_MODES, mode));
    } else if (kind === 'ipvlan' || kind === 'ipvtap') {
      const mode = data.u16(IFLA_IPVLAN_MODE);
      if (mode !== undefined) setIf(link, 'ipvlanMode', nameOf(IPVLAN_MODES, mode));
    } else if (kind === 'vlan') {
      setIf(link, 'vlanId', data.u16(IFLA_VLAN_ID));
    } else if (kind === 'vrf') {
      setIf(link, 'vrfTable', data.u32(IFLA_VRF_TABLE));
    } else if (kind === 'tun') {
      link.tun = decodeTun(data);
    } else if (kind === 'vxlan') {
      link.vxlan = decodeVxlan(data);
    }
  }
  const slaveKind = info.str(IFLA_INFO_SLAVE_KIND);
  if (slaveKind) {
    link.slaveKind = slaveKind;
    if (slaveKind === 'bridge') link.bridgePort = decodeBridgePort(info.nested(IFLA_INFO_SLAVE_DATA));
  }
  return link;
}

function decodeTun(d: Attrs): TunInfo {
  const on = (type: number): boolean => d.u8(type) === 1;
  // IFLA_TUN_TYPE carries IFF_TUN (1) or IFF_TAP (2).
  const tun: TunInfo = {
    type: d.u8(IFLA_TUN_TYPE) === 2 ? 'tap' : 'tun',
    pi: on(IFLA_TUN_PI),
    vnetHdr: on(IFLA_TUN_VNET_HDR),
    multiQueue: on(IFLA_TUN_MULTI_QUEUE),
    persist: on(IFLA_TUN_PERSIST),
  };
  setIf(tun, 'owner', d.u32(IFLA_TUN_OWNER));
  setIf(tun, 'group', d.u32(IFLA_TUN_GROUP));
  setIf(tun, 'numQueues', d.u32(IFLA_TUN_NUM_QUEUES));
  return tun;
}

function decodeVxlan(d: Attrs): VxlanInfo {
  const info: VxlanInfo = { vni: d.u32(IFLA_VXLAN_ID) ?? 0, learning: d.u8(IFLA_VXLAN_LEARNING) === 1 };
  const port = d.bytes(IFLA_VXLAN_PORT);
  if (port && port.length >= 2) info.port = ((port[0] ?? 0) << 8) | (port[1] ?? 0);
  const local = d.bytes(IFLA_VXLAN_LOCAL) ?? d.bytes(IFLA_VXLAN_LOCAL6);
  if (local && (local.length === 4 || local.length === 16) && local.some((b) => b !== 0)) info.local = formatIp(local);
  const parent = d.u32(IFLA_VXLAN_LINK);
  if (parent) info.parentIndex = parent;
  return info;
}

function decodeBridgePort(p: Attrs): BridgePort {
  const port: BridgePort = { hairpin: p.u8(IFLA_BRPORT_MODE) === 1, isolated: p.u8(IFLA_BRPORT_ISOLATED) === 1 };
  const learning = p.u8(IFLA_BRPORT_LEARNING);
  if (learning !== undefined) port.learning = learning === 1;
  setIf(port, 'state', p.u8(IFLA_BRPORT_STATE));
  return port;
}

function setIf<T, K extends keyof T>(o: T, k: K, v: T[K] | undefined): void {
  if (v !== undefined) o[k] = v;
}

// ---------------------------------------------------------------------------------------------
// Requests: lookups

// Counters are not needed and make every link message ~400 bytes larger.
const SKIP_STATS = attr.u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);

export const getLinkByName = (name: string): Request => ({
  type: RTM_GETLINK,
  flags: 0,
  header: encodeIfInfo(),
  attrs: [attr.str(IFLA_IFNAME, name), SKIP_STATS],
});

export const getLinkByIndex = (index: number): Request => ({
  type: RTM_GETLINK,
  flags: 0,
  header: encodeIfInfo({ index }),
  attrs: [SKIP_STATS],
});

export const dumpLinks = (): Request => ({
  type: RTM_GETLINK,
  flags: NLM_F_DUMP,
  header: encodeIfInfo(),
  attrs: [SKIP_STATS],
});

// ---------------------------------------------------------------------------------------------
// Requests: creation

/** Settings every new link may take. `netnsFd`: an open netns file the link is created in. */
export interface NewLinkCommon {
  name: string;
  mtu?: number;
  mac?: string;
  txqlen?: number;
  netnsFd?: number;
}

export interface BridgeOptions extends NewLinkCommon {
  /** 802.1Q filtering on the bridge's ports (needs CONFIG_BRIDGE_VLAN_FILTERING). */
  vlanFiltering?: boolean;
}

export interface VethOptions extends NewLinkCommon {
  peerName: string;
  /** Defaults to `mtu`, so both ends match. */
  peerMtu?: number;
  peerMac?: string;
  /** The peer is born in this namespace (an open netns file descriptor). */
  peerNetnsFd?: number;
}

export interface MacvlanOptions extends NewLinkCommon {
  parentIndex: number;
  mode?: MacvlanMode;
  /** Length of the broadcast/multicast delivery queue (kernel ≥ 5.11). */
  bcQueueLen?: number;
}

export interface IpvlanOptions extends Omit<NewLinkCommon, 'mac'> {
  parentIndex: number;
  mode?: IpvlanMode;
}

export interface VlanOptions extends NewLinkCommon {
  parentIndex: number;
  id: number;
}

export interface VrfOptions extends NewLinkCommon {
  /** The routing table the VRF's ports use. */
  table: number;
}

export interface VxlanOptions extends NewLinkCommon {
  /** VXLAN network identifier, 1..16777215. */
  vni: number;
  /** UDP destination port (IANA's 4789 unless told otherwise). */
  port: number;
  /** Local tunnel endpoint: the source address of encapsulated packets (IPv4 or IPv6). */
  local?: string;
  /** The underlay link the tunnel is bound to. */
  parentIndex?: number;
  /** Learn remote MACs from received packets (off when a control plane fills the FDB). */
  learning?: boolean;
}

/** An intermediate functional block: traffic redirected to it is queued there, then goes on. */
export interface IfbOptions extends NewLinkCommon {
  /** Created up (one request). */
  up?: boolean;
}

function commonAttrs(o: NewLinkCommon): AttrSpec[] {
  const out = [attr.str(IFLA_IFNAME, o.name)];
  if (o.mtu !== undefined) out.push(attr.u32(IFLA_MTU, o.mtu));
  if (o.mac !== undefined) out.push(attr.bytes(IFLA_ADDRESS, parseMac(o.mac)));
  if (o.txqlen !== undefined) out.push(attr.u32(IFLA_TXQLEN, o.txqlen));
  if (o.netnsFd !== undefined) out.push(attr.s32(IFLA_NET_NS_FD, o.netnsFd));
  return out;
}

function newLink(kind: string, own: AttrSpec[], data?: AttrSpec[], up = false): Request {
  const info = [attr.str(IFLA_INFO_KIND, kind)];
  if (data) info.push(attr.nest(IFLA_INFO_DATA, data));
  return {
    type: RTM_NEWLINK,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    // The kernel applies ifi_flags to a new link: it can be born up.
    header: up ? encodeIfInfo({ flags: IFF_UP, change: IFF_UP }) : encodeIfInfo(),
    attrs: [...own, attr.nest(IFLA_LINKINFO, info)],
  };
}

export const newBridge = (o: BridgeOptions): Request =>
  newLink(
    'bridge',
    commonAttrs(o),
    o.vlanFiltering === undefined ? undefined : [attr.u8(IFLA_BR_VLAN_FILTERING, o.vlanFiltering ? 1 : 0)],
  );

export function newVeth(o: VethOptions): Request {
  const peer = commonAttrs({
    name: o.peerName,
    mtu: o.peerMtu ?? o.mtu,
    mac: o.peerMac,
    txqlen: o.txqlen,
    netnsFd: o.peerNetnsFd,
  });
  // VETH_INFO_PEER holds a whole ifinfomsg followed by the peer's own attributes.
  const peerBody = concat(encodeIfInfo(), encodeAttrs(peer));
  return newLink('veth', commonAttrs(o), [attr.bytes(VETH_INFO_PEER, peerBody)]);
}

export const newMacvlan = (o: MacvlanOptions): Request =>
  newLink(
    'macvlan',
    [...commonAttrs(o), attr.u32(IFLA_LINK, o.parentIndex)],
    [
      attr.u32(IFLA_MACVLAN_MODE, MACVLAN_MODES[o.mode ?? 'bridge']),
      ...(o.bcQueueLen === undefined ? [] : [attr.u32(IFLA_MACVLAN_BC_QUEUE_LEN, o.bcQueueLen)]),
    ],
  );

export const newIpvlan = (o: IpvlanOptions): Request =>
  newLink(
    'ipvlan',
    [...commonAttrs(o), attr.u32(IFLA_LINK, o.parentIndex)],
    [attr.u16(IFLA_IPVLAN_MODE, IPVLAN_MODES[o.mode ?? 'l2'])],
  );

export const newIfb = (o: IfbOptions): Request => newLink('ifb', commonAttrs(o), undefined, o.up === true);

export const newVlan = (o: VlanOptions): Request =>
  newLink('vlan', [...commonAttrs(o), attr.u32(IFLA_LINK, o.parentIndex)], [attr.u16(IFLA_VLAN_ID, o.id)]);

export const newDummy = (o: NewLinkCommon): Request => newLink('dummy', commonAttrs(o));

export const newVrf = (o: VrfOptions): Request => newLink('vrf', commonAttrs(o), [attr.u32(IFLA_VRF_TABLE, o.table)]);

export function newVxlan(o: VxlanOptions): Request {
  const data = [attr.u32(IFLA_VXLAN_ID, o.vni)];
  if (o.local !== undefined) {
    const ip = parseIp(o.local);
    data.push(attr.bytes(ip.family === 4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, ip.bytes));
  }
  if (o.parentIndex !== undefined) data.push(attr.u32(IFLA_VXLAN_LINK, o.parentIndex));
  data.push(attr.bytes(IFLA_VXLAN_PORT, Uint8Array.of((o.port >> 8) & 0xff, o.port & 0xff)));
  data.push(attr.u8(IFLA_VXLAN_LEARNING, o.learning ? 1 : 0));
  return newLink('vxlan', commonAttrs(o), data);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Requests: changes and deletion

/** What `setLink` changes; everything left out stays as it is. */
export interface LinkChanges {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** A bridge's index to enslave to, or null to leave the current master. */
  masterIndex?: number | null;
  /** Move the link into this namespace (an open netns file descriptor). */
  netnsFd?: number;
  name?: string;
  promisc?: boolean;
  allmulti?: boolean;
  txqlen?: number;
  /** The link's alias; '' removes it. */
  alias?: string;
}

/** One RTM_SETLINK carrying every requested change (the kernel applies them in one call). */
export function setLink(index: number, c: LinkChanges): Request {
  let flags = 0;
  let change = 0;
  const flag = (bit: number, on: boolean | undefined): void => {
    if (on === undefined) return;
    change |= bit;
    if (on) flags |= bit;
  };
  flag(IFF_UP, c.up);
  flag(IFF_PROMISC, c.promisc);
  flag(IFF_ALLMULTI, c.allmulti);
  const attrs: AttrSpec[] = [];
  if (c.name !== undefined) attrs.push(attr.str(IFLA_IFNAME, c.name));
  if (c.mtu !== undefined) attrs.push(attr.u32(IFLA_MTU, c.mtu));
  if (c.mac !== undefined) attrs.push(attr.bytes(IFLA_ADDRESS, parseMac(c.mac)));
  if (c.txqlen !== undefined) attrs.push(attr.u32(IFLA_TXQLEN, c.txqlen));
  if (c.masterIndex !== undefined) attrs.push(attr.u32(IFLA_MASTER, c.masterIndex ?? 0));
  if (c.netnsFd !== undefined) attrs.push(attr.s32(IFLA_NET_NS_FD, c.netnsFd));
  if (c.alias !== undefined) attrs.push(attr.str(IFLA_IFALIAS, c.alias));
  return { type: RTM_SETLINK, flags: 0, header: encodeIfInfo({ index, flags, change }), attrs };
}

/** Bridge port flags, sent to the bridge layer (AF_BRIDGE) as IFLA_PROTINFO. */
export interface BridgePortChanges {
  hairpin?: boolean;
  isolated?: boolean;
  learning?: boolean;
}

export function setBridgePort(index: number, c: BridgePortChanges): Request {
  const p: AttrSpec[] = [];
  if (c.hairpin !== undefined) p.push(attr.u8(IFLA_BRPORT_MODE, c.hairpin ? 1 : 0));
  if (c.learning !== undefined) p.push(attr.u8(IFLA_BRPORT_LEARNING, c.learning ? 1 : 0));
  if (c.isolated !== undefined) p.push(attr.u8(IFLA_BRPORT_ISOLATED, c.isolated ? 1 : 0));
  return {
    type: RTM_SETLINK,
    flags: 0,
    header: encodeIfInfo({ family: AF_BRIDGE, index }),
    // Without NLA_F_NESTED the bridge reads IFLA_PROTINFO as a bare (legacy) STP state byte.
    attrs: [attr.nest(IFLA_PROTINFO | NLA_F_NESTED, p)],
  };
}

export const delLink = (index: number): Request => ({
  type: RTM_DELLINK,
  flags: 0,
  header: encodeIfInfo({ family: AF_UNSPEC, index }),
});
