/**
 * A veth pair whose container end is born inside the container's namespace (one netlink
 * request), as bridge and ptp need it. The host end is named like the reference's: `veth` and
 * 8 random hex digits.
 */
import { CniError, ErrorCode } from '../cni/errors';
import { isErrno, type Rtnl } from '../netlink';
import { randomBytes } from '../sys/hash';
import { withNetnsFd } from '../sys/netns';
import { randomMac } from './mac';

export const randomVethName = (): string => `veth${randomBytes(4).toString('hex')}`;

export interface VethPair {
  readonly hostName: string;
  readonly hostIndex: number;
  readonly hostMac: string;
  readonly containerMac: string;
}

export interface VethOptions {
  readonly mtu?: number;
  /** The container end's MAC; random when not given. */
  readonly containerMac?: string;
}

/** Creates the pair; the caller registers the undo (deleting `hostName` removes both ends). */
export function createVethPair(host: Rtnl, netns: string, ifName: string, o: VethOptions = {}): VethPair {
  const hostName = randomVethName();
  const hostMac = randomMac();
  const containerMac = o.containerMac ?? randomMac();
  try {
    withNetnsFd(netns, (fd) =>
      host.createVeth({
        name: hostName,
        mac: hostMac,
        mtu: o.mtu,
        peerName: ifName,
        peerMac: containerMac,
        peerMtu: o.mtu,
        peerNetnsFd: fd,
      }),
    );
  } catch (e) {
    if (isErrno(e, 'EEXIST'))
      throw new CniError(
        ErrorCode.Internal,
        `container veth name (${JSON.stringify(ifName)}) peer provided (${JSON.stringify(hostName)}) already exists`,
        e.message,
      );
    throw e;
  }
  const link = host.linkByName(hostName);
  if (!link) throw new CniError(ErrorCode.Internal, `veth ${hostName} vanished right after its creation`);
  return { hostName, hostIndex: link.index, hostMac, containerMac };
}
