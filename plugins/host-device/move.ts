/**
 * Moving a host device into a container and back, each in one RTM_SETLINK: the kernel moves the
 * link to the target namespace, renames it, sets its alias and brings it up in that order, so
 * the device is never seen in the host under a temporary name (what the reference's v1.9 avoids
 * with a temporary namespace, for udev's sake) and never needs a namespace of its own. The alias
 * holds the host name while the device is away, as the reference's does, so either
 * implementation can take back a device the other moved. Moving a link out of a namespace drops
 * its addresses and takes it down: what the container configured does not come back.
 *
 * Where a device goes when its container's namespace dies: the kernel moves a physical device
 * back to the initial namespace (keeping its container name if free there, else `dev<index>`,
 * and its alias), and deletes a virtual one (veth, macvlan, ...) together with the namespace.
 * `recoverInHost` finds the first kind by MAC and alias and gives it back its name.
 */
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { warn } from '../../lib/log';
import type { Link, Rtnl } from '../../lib/netlink';
import { withNetnsFd } from '../../lib/sys/netns';
import type { DeviceRecord } from './records';

/** This thread's namespace: where a device goes back to (the plugin runs in the host's). */
const HOST_NETNS = '/proc/thread-self/ns/net';

const failed = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);
const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** How the device was in the host, restored when it comes back. */
export interface HostState {
  readonly hostName: string;
  readonly alias: string;
  readonly up: boolean;
}

/** Moves `dev` into the namespace at `netns` as `ifName`, up, its host name kept in the alias. */
export function moveIn(host: Rtnl, ctr: Rtnl, netns: string, dev: Link, ifName: string): Link {
  if (ctr.linkByName(ifName))
    throw failed(`failed to move link: the container already has an interface named ${JSON.stringify(ifName)}`);
  try {
    withNetnsFd(netns, (fd) => host.setLink(dev.index, { netnsFd: fd, name: ifName, alias: dev.name, up: true }));
  } catch (e) {
    throw failed(`failed to move link ${JSON.stringify(dev.name)} into the container as ${ifName}: ${errText(e)}`);
  }
  const moved = ctr.linkByName(ifName);
  if (!moved) throw failed(`failed to move link: ${ifName} is not in the container after the move`);
  return moved;
}

/**
 * Moves `link` out of the namespace of `ctr` into the plugin's, as `state.hostName`, with its
 * former alias and up state. Refuses (and leaves it where it is, for a retried DEL) when the
 * host already has a link of that name.
 */
export function moveOut(host: Rtnl, ctr: Rtnl, link: Link, state: HostState): void {
  const taken = host.linkByName(state.hostName);
  if (taken)
    throw failed(
      `failed to move ${link.name} back as ${JSON.stringify(state.hostName)}: the host already has a link of that name`,
    );
  try {
    withNetnsFd(HOST_NETNS, (fd) =>
      ctr.setLink(link.index, {
        netnsFd: fd,
        name: state.hostName,
        alias: state.alias,
        ...(state.up ? { up: true } : {}),
      }),
    );
  } catch (e) {
    throw failed(`failed to move ${link.name} back to the host as ${JSON.stringify(state.hostName)}: ${errText(e)}`);
  }
}

/**
 * The recorded device inside the container: under its container name, under its host name (a
 * move that stopped half-way), or under any name the container gave it (found by MAC).
 */
export function findInContainer(ctr: Rtnl, rec: DeviceRecord): Link | undefined {
  for (const name of [rec.ifName, rec.hostName]) {
    const l = ctr.linkByName(name);
    if (l && l.mac === rec.mac) return l;
  }
  return ctr.links().find((l) => l.mac === rec.mac);
}

export type Recovery = 'home' | 'renamed' | 'gone';

/**
 * The recorded device when it is not in a container: already home under its host name, back
 * under another name (the kernel's doing when the namespace died: renamed here), or gone.
 */
export function recoverInHost(host: Rtnl, rec: DeviceRecord): Recovery {
  const links = host.links();
  const home = links.find((l) => l.name === rec.hostName);
  if (home && home.mac === rec.mac) return 'home';
  const refunded = links.find((l) => l.mac === rec.mac && l.alias === rec.hostName);
  if (!refunded) return 'gone';
  if (home)
    throw failed(
      `cannot give ${refunded.name} its name ${JSON.stringify(rec.hostName)} back: the host has another link of that name`,
    );
  // A link is renamed only while down.
  if (refunded.flags.up) host.setDown(refunded.index);
  host.setLink(refunded.index, { name: rec.hostName, alias: rec.alias, ...(rec.up ? { up: true } : {}) });
  warn(`host-device: ${refunded.name} came back without its container's DEL; renamed to ${rec.hostName}`);
  return 'renamed';
}
