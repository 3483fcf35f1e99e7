/**
 * rtnetlink from TypeScript: links, addresses, routes and traffic control over a NETLINK_ROUTE socket opened
 * through Bun's FFI (no iproute2 exec). See README.md in this folder.
 */
export { Rtnl, type AddrFilter, type RouteFilter, type RuleFilter } from './rtnl';
export {
  NetlinkError,
  NetlinkSocket,
  isBun,
  isErrno,
  openNetlink,
  type NetlinkOptions,
  type RawSocket,
} from './socket';
export { describe } from './describe';
export type { Addr, AddrFlags, AddrOptions } from './addrs';
export type {
  BridgeOptions,
  BridgePort,
  BridgePortChanges,
  IfbOptions,
  IpvlanMode,
  IpvlanOptions,
  Link,
  LinkChanges,
  LinkFlags,
  MacvlanMode,
  MacvlanOptions,
  NewLinkCommon,
  TunInfo,
  VethOptions,
  VlanOptions,
  VrfOptions,
  VxlanInfo,
  VxlanOptions,
} from './links';
export type { FdbEntry, Neighbour } from './neigh';
export type { Route, RouteSpec } from './routes';
export type { Rule, RuleSpec } from './rules';
export {
  formatHandle,
  tcHandle,
  tickInUsec,
  type ActionInfo,
  type Filter,
  type HtbClassSpec,
  type MirredAction,
  type Qdisc,
  type QdiscOptions,
  type QdiscSpec,
  type TcClass,
  type U32FilterSpec,
  type U32Key,
} from './tc';
