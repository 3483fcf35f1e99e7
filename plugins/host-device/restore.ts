/**
 * Bringing an attachment's device back to the host, for DEL and GC, from wherever it is: in the
 * container's namespace (CNI_NETNS, or the recorded one when the runtime sends none and it still
 * exists), or already in the host (moved back by an earlier DEL, or by the kernel when the
 * namespace died). A virtual device whose namespace died is gone for good; that is reported, not
 * an error: there is nothing left to do.
 */
import { statSync } from 'node:fs';
import { warn } from '../../lib/log';
import type { Kernel } from '../../lib/net/kernel';
import { netnsExists } from '../../lib/net/open-netns';
import type { Link, Rtnl } from '../../lib/netlink';
import { findInContainer, moveOut, recoverInHost, type HostState } from './move';
import type { DeviceRecord } from './records';

/** The namespace to look in: the one given, else the recorded one if it is still that namespace. */
function containerNetns(given: string, rec: DeviceRecord | undefined): string | undefined {
  if (netnsExists(given)) return given;
  if (!rec || !netnsExists(rec.netns)) return undefined;
  try {
    return statSync(rec.netns).ino === rec.netnsInode ? rec.netns : undefined;
  } catch {
    return undefined;
  }
}

/** How to bring `link` home: the record's account when it is that device, else the alias (the reference's). */
function hostStateOf(link: Link, rec: DeviceRecord | undefined): HostState | undefined {
  if (rec && rec.mac === link.mac) return { hostName: rec.hostName, alias: rec.alias, up: rec.up };
  if (link.alias) return { hostName: link.alias, alias: '', up: false };
  return undefined;
}

/** The attachment's link in the container: CNI_IFNAME (the reference's way), or the recorded device under any name. */
function linkInContainer(ctr: Rtnl, ifName: string, rec: DeviceRecord | undefined): Link | undefined {
  const named = ctr.linkByName(ifName);
  if (!rec || (named && named.mac === rec.mac)) return named;
  return findInContainer(ctr, rec) ?? named;
}

export async function bringBack(
  kernel: Kernel,
  netns: string,
  ifName: string,
  rec: DeviceRecord | undefined,
): Promise<void> {
  const host = kernel.rtnl();
  try {
    const where = containerNetns(netns, rec);
    if (where) {
      const ctr = kernel.rtnl(where);
      try {
        const link = linkInContainer(ctr, ifName, rec);
        const state = link && hostStateOf(link, rec);
        if (link && state) return moveOut(host, ctr, link, state);
        // Not a device host-device moved (no alias, no record): nothing of ours to take back.
        if (link && !rec) return warn(`host-device: ${ifName} has no alias naming a host device; left in place`);
      } finally {
        ctr.close();
      }
    }
    if (!rec) return;
    if (recoverInHost(host, rec) === 'gone')
      warn(
        `host-device: ${rec.hostName} (${rec.mac}) is gone: its namespace was deleted with it inside ` +
          '(the kernel deletes virtual devices with their namespace and gives physical ones to the initial namespace)',
      );
  } finally {
    host.close();
  }
}
