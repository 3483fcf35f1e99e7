/**
 * dummy CHECK, in the reference's order and words: IPAM agrees, prevResult names the link in
 * this container, the link is a dummy with prevResult's MAC and is up, and carries its addresses
 * — and, beyond the reference, prevResult's routes.
 */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { containerInterface } from '../../lib/link-plugin/check';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { checkAddresses, checkRoutes } from '../../lib/net/verify';
import { loadDummyIpamType } from './config';

const fail = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);

export async function check(inv: Invocation, kernel: Kernel): Promise<void> {
  const ipamType = loadDummyIpamType(inv);
  requireNetns(inv.netns);
  await delegate('CHECK', ipamType, inv, { runner: kernel.runner });
  const { prev, index, iface, ips } = containerInterface(inv, 'dummy: ');
  const ctr = kernel.rtnl(inv.netns);
  try {
    const link = ctr.linkByName(inv.ifName);
    if (!link) throw fail(`Container Interface name in prevResult: ${inv.ifName} not found`);
    if (link.kind !== 'dummy') throw fail(`Error: Container interface ${link.name} not of type dummy`);
    if (iface.mac && iface.mac.toLowerCase() !== (link.mac ?? '').toLowerCase())
      throw fail(`Interface ${link.name} Mac ${iface.mac} doesn't match container Mac: ${link.mac ?? ''}`);
    if (!link.flags.up) throw fail(`Interface ${link.name} is down`);
    checkAddresses(ctr, link.index, inv.ifName, ips, index);
    checkRoutes(ctr, prev.routes ?? []);
  } finally {
    ctr.close();
  }
}
