/**
 * dummy ADD: a dummy link made in the container's namespace → IPAM → addresses, up, routes.
 * Every step registers its undo first: a failure leaves no link and no lease. The result carries
 * IPAM's DNS, as the reference's does.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { Result } from '../../lib/cni/result/types';
import { ipamAdd } from '../../lib/link-plugin/ipam';
import { deleteLinkNamed } from '../../lib/net/container-link';
import { configureL3 } from '../../lib/net/interface';
import type { Kernel } from '../../lib/net/kernel';
import { creationError } from '../../lib/net/link-kind';
import { requireNetns } from '../../lib/net/open-netns';
import { isErrno } from '../../lib/netlink';
import { UndoStack } from '../../lib/undo';
import { loadDummyIpamType } from './config';

export async function add(inv: Invocation, kernel: Kernel): Promise<Result> {
  const ipamType = loadDummyIpamType(inv);
  requireNetns(inv.netns);
  const undo = new UndoStack();
  const ctr = kernel.rtnl(inv.netns);
  try {
    return await undo.guard(async () => {
      try {
        ctr.createDummy({ name: inv.ifName });
      } catch (e) {
        if (isErrno(e, 'EEXIST'))
          throw new CniError(
            ErrorCode.Internal,
            `failed to create dummy: interface ${JSON.stringify(inv.ifName)} already exists in the container`,
            e.message,
          );
        throw creationError('dummy', 'failed to create dummy', e);
      }
      undo.push(`delete dummy ${inv.ifName}`, () => deleteLinkNamed(ctr, inv.ifName));
      const link = ctr.linkByName(inv.ifName);
      if (!link)
        throw new CniError(ErrorCode.Internal, `failed to fetch dummy ${JSON.stringify(inv.ifName)}: link not found`);

      const { ips, routes, dns } = await ipamAdd(undo, inv, kernel, ipamType);
      await configureL3(kernel, ctr, inv.netns, inv.ifName, ips, routes);
      const result: Result = {
        cniVersion: inv.cniVersion,
        interfaces: [{ name: inv.ifName, mac: link.mac ?? '', sandbox: inv.netns }],
        ips,
      };
      if (routes.length) result.routes = routes;
      if (dns) result.dns = dns;
      return result;
    });
  } finally {
    ctr.close();
  }
}
