/**
 * The kernel side of macvlan/ipvlan: the master's resolution (configured name, VLAN
 * sub-interface, default route, chained prevResult) and the one RTM_NEWLINK that creates the
 * container's link. The link is born in the container's namespace under its final name
 * (IFLA_NET_NS_FD; the kernel checks the name there), so there is no temporary name to rename
 * and nothing of it ever appears in the host's namespace.
 */
import { CniError, ConfigError, ErrorCode } from '../cni/errors';
import type { Result } from '../cni/result/types';
import { defaultRouteLinkName } from '../net/master';
import { acquireVlan, ownerToken, parseVlanName, vlanSpec, type VlanOptions, type VlanUser } from '../net/vlan';
import { isErrno, type IpvlanMode, type Link, type MacvlanMode, type Rtnl } from '../netlink';
import type { SubLinkConfig, SubLinkKind } from './config';

export interface ChildSpec {
  readonly kind: SubLinkKind;
  /** The container's interface name. */
  readonly name: string;
  readonly parentIndex: number;
  readonly mode: MacvlanMode | IpvlanMode;
  readonly mtu?: number;
  readonly mac?: string;
  readonly bcQueueLen?: number;
  /** The container's namespace, when `rtnl` is the host's socket. */
  readonly netnsFd?: number;
}

/** Creates the container's link; errors say which step failed and why. */
export function createChild(rtnl: Rtnl, c: ChildSpec): void {
  try {
    if (c.kind === 'macvlan')
      rtnl.createMacvlan({
        name: c.name,
        parentIndex: c.parentIndex,
        mode: c.mode as MacvlanMode,
        mtu: c.mtu,
        mac: c.mac,
        bcQueueLen: c.bcQueueLen,
        netnsFd: c.netnsFd,
      });
    else
      rtnl.createIpvlan({
        name: c.name,
        parentIndex: c.parentIndex,
        mode: c.mode as IpvlanMode,
        mtu: c.mtu,
        netnsFd: c.netnsFd,
      });
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    if (isErrno(e, 'EEXIST'))
      throw new CniError(
        ErrorCode.Internal,
        `failed to create ${c.kind}: interface ${JSON.stringify(c.name)} already exists in the container`,
        detail,
      );
    if (isErrno(e, 'EOPNOTSUPP'))
      throw new CniError(
        ErrorCode.Internal,
        `failed to create ${c.kind}: this kernel has no ${c.kind} links (CONFIG_${c.kind.toUpperCase()})`,
        detail,
      );
    throw new CniError(ErrorCode.Internal, `failed to create ${c.kind}`, detail);
  }
}

export interface Master {
  readonly link: Link;
  /** Set when the master is a VLAN sub-interface of ours and this ADD was counted as its user. */
  readonly countedVlan: boolean;
}

const lookupError = (name: string, inContainer: boolean): CniError =>
  new CniError(
    ErrorCode.Internal,
    `failed to lookup master ${JSON.stringify(name)}${inContainer ? " in the container's namespace" : ''}: link not found`,
  );

/** The base master name: configured, prevResult's only interface (chained ipvlan), or the default route's link. */
export function baseMasterName(cfg: SubLinkConfig, where: Rtnl, prev: Result | undefined): string {
  if (cfg.master) return cfg.master;
  if (cfg.kind === 'ipvlan' && prev) {
    const ifs = prev.interfaces ?? [];
    if (ifs.length === 1 && ifs[0]?.name) return ifs[0].name;
    throw new CniError(ErrorCode.Internal, 'chained master failure. PrevResult lacks a single named interface');
  }
  return defaultRouteLinkName(where);
}

/** The master's name after our `vlan` key: `<base>.<vlan>`. */
export function masterName(cfg: SubLinkConfig, base: string): string {
  return cfg.vlan ? vlanSpec(base, cfg.vlan).name : base;
}

/**
 * Finds the master; a missing `<parent>.<vid>` master (or the `vlan` key's sub-interface) on the
 * host is created as an 802.1Q sub-interface and this attachment counted as its user.
 */
export async function resolveMaster(
  cfg: SubLinkConfig,
  host: Rtnl,
  ctr: Rtnl,
  prev: Result | undefined,
  user: VlanUser,
  vlanOpts: VlanOptions = {},
): Promise<Master> {
  const where = cfg.linkInContainer ? ctr : host;
  const base = baseMasterName(cfg, where, prev);
  const name = masterName(cfg, base);
  const existing = where.linkByName(name);
  if (cfg.linkInContainer) {
    if (!existing) throw lookupError(name, true);
    return { link: existing, countedVlan: false };
  }
  // Someone else's link (or no VLAN at all): used as it is, never counted or removed.
  if (existing && !ownerToken(existing)) return { link: existing, countedVlan: false };
  const spec = cfg.vlan ? vlanSpec(base, cfg.vlan) : parseVlanName(name);
  if (!spec) {
    if (existing) return { link: existing, countedVlan: false };
    throw lookupError(name, false);
  }
  const got = await acquireVlan(host, spec, user, vlanOpts);
  return { link: got.link, countedVlan: got.added };
}

/** The reference's MTU rule: 0 (inherit) up to the master's MTU. */
export function checkMtu(mtu: number, master: Link): void {
  if (mtu < 0 || mtu > master.mtu) throw new ConfigError(`invalid MTU ${mtu}, must be [0, master MTU(${master.mtu})]`);
}
