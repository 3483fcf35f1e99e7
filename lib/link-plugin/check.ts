/**
 * CHECK's first steps for a plugin whose link lives in the container: prevResult must be there
 * and name the interface in this container's namespace (the reference's messages).
 */
import type { Invocation } from '../cni/invocation';
import { CniError, ErrorCode } from '../cni/errors';
import { prevResultOf } from '../cni/netconf';
import type { Interface, IPConfig, Result } from '../cni/result/types';
import { ipsOfInterface } from '../cni/result/select';

export interface ContainerInterface {
  readonly prev: Result;
  /** The interface's position in prevResult.interfaces. */
  readonly index: number;
  readonly iface: Interface;
  /** prevResult's addresses that belong to it. */
  readonly ips: IPConfig[];
}

/** `plugin` prefixes the missing-prevResult message as the reference does ('' for none). */
export function containerInterface(inv: Invocation, plugin: string): ContainerInterface {
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, `${plugin}Required prevResult missing`);
  const ifaces = prev.interfaces ?? [];
  const index = ifaces.findIndex((i) => i.name === inv.ifName && i.sandbox === inv.netns);
  const iface = ifaces[index];
  if (!iface)
    throw new CniError(ErrorCode.Internal, `Sandbox in prevResult  doesn't match configured netns: ${inv.netns}`);
  const ips = ipsOfInterface(prev, index);
  return { prev, index, iface, ips };
}
