/**
 * The host end of the container's veth, the link bandwidth shapes: the peer of CNI_IFNAME,
 * looked up by the index the container side reports, and checked to be a veth pointing back at
 * it (an index alone can name an unrelated link). Like the reference, when the previous result
 * lists interfaces the host end must be one of them, outside the sandbox.
 */
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { Interface } from '../../lib/cni/result/types';
import type { Link, Rtnl } from '../../lib/netlink';

/** The peer of `ifName` in the host namespace; undefined when there is none (DEL). */
export function vethPeer(host: Rtnl, ctr: Rtnl, ifName: string): Link | undefined {
  const inside = ctr.linkByName(ifName);
  if (inside?.kind !== 'veth' || !inside.parentIndex) return undefined;
  const peer = host.linkByIndex(inside.parentIndex);
  return peer?.kind === 'veth' && peer.parentIndex === inside.index ? peer : undefined;
}

export function findHostLink(host: Rtnl, ctr: Rtnl, ifName: string, interfaces: readonly Interface[] = []): Link {
  const inside = ctr.linkByName(ifName);
  if (inside?.kind !== 'veth' || !inside.parentIndex)
    throw new CniError(
      ErrorCode.Internal,
      `container interface ${ifName} has no veth peer`,
      inside ? `${ifName} is a ${inside.kind ?? 'physical'} link` : `no link named ${ifName}`,
    );
  const peer = host.linkByIndex(inside.parentIndex);
  if (peer?.kind !== 'veth' || peer.parentIndex !== inside.index)
    throw new CniError(ErrorCode.Internal, `veth peer with index ${inside.parentIndex} is not in host ns`);
  if (interfaces.length > 0 && !interfaces.some((i) => !i.sandbox && i.name === peer.name))
    throw new CniError(
      ErrorCode.Internal,
      'no veth peer of container interface found in host ns',
      `${peer.name} is not among the host interfaces of prevResult`,
    );
  return peer;
}
