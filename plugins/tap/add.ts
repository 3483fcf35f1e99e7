/**
 * tap ADD: a persistent tap born in the container's namespace (/dev/net/tun opened there) with
 * its owner, group and queue mode → MTU and MAC → port of `bridge` (a bridge in the container's
 * namespace, where VM runtimes wire their guest) → up → with IPAM, addresses and routes on it.
 * Every step registers its undo first: a failure leaves no tap and no lease.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { Result } from '../../lib/cni/result/types';
import { ipamAdd } from '../../lib/link-plugin/ipam';
import { deleteLinkNamed } from '../../lib/net/container-link';
import { configureL3 } from '../../lib/net/interface';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { createTap } from '../../lib/net/tuntap';
import type { Rtnl } from '../../lib/netlink';
import { UndoStack } from '../../lib/undo';
import { loadTapConfig, type TapConfig } from './config';

const fail = (msg: string, e: unknown): CniError =>
  new CniError(ErrorCode.Internal, msg, e instanceof Error ? e.message : String(e));

/** MTU, MAC, bridge port, up — each refusal named as the reference names it. Returns the MAC. */
function configureTap(ctr: Rtnl, ifName: string, cfg: TapConfig): string {
  const link = ctr.linkByName(ifName);
  if (!link) throw new CniError(ErrorCode.Internal, `failed to refetch tap ${JSON.stringify(ifName)}: link not found`);
  if (cfg.mtu > 0 || cfg.mac) {
    try {
      ctr.setLink(link.index, { mtu: cfg.mtu > 0 ? cfg.mtu : undefined, mac: cfg.mac });
    } catch (e) {
      throw fail(`failed to set the MTU or MAC of tap ${JSON.stringify(ifName)}`, e);
    }
  }
  if (cfg.bridge) {
    const br = ctr.linkByName(cfg.bridge);
    if (!br) throw new CniError(ErrorCode.Internal, `failed to get bridge ${cfg.bridge}: link not found`);
    try {
      ctr.setLink(link.index, { masterIndex: br.index });
    } catch (e) {
      throw fail(`failed to set tap ${ifName} as a port of bridge ${cfg.bridge}`, e);
    }
  }
  try {
    ctr.setUp(link.index);
  } catch (e) {
    throw fail('failed to set tap interface up', e);
  }
  return cfg.mac ?? link.mac ?? '';
}

export async function add(inv: Invocation, kernel: Kernel): Promise<Result> {
  const cfg = loadTapConfig(inv);
  requireNetns(inv.netns);
  const undo = new UndoStack();
  const ctr = kernel.rtnl(inv.netns);
  try {
    return await undo.guard(async () => {
      createTap(() => kernel.openTun(inv.netns), {
        name: inv.ifName,
        multiQueue: cfg.multiQueue,
        owner: cfg.owner,
        group: cfg.group,
      });
      undo.push(`delete tap ${inv.ifName}`, () => deleteLinkNamed(ctr, inv.ifName));
      const mac = configureTap(ctr, inv.ifName, cfg);

      const result: Result = {
        cniVersion: inv.cniVersion,
        interfaces: [{ name: inv.ifName, mac, sandbox: inv.netns }],
      };
      if (cfg.ipamType !== '') {
        const { ips, routes } = await ipamAdd(undo, inv, kernel, cfg.ipamType);
        // As the reference: gratuitous ARP on changes (the guest learns the MAC at once).
        await configureL3(kernel, ctr, inv.netns, inv.ifName, ips, routes, [
          [`net/ipv4/conf/${inv.ifName}/arp_notify`, '1'],
        ]);
        result.ips = ips;
        if (routes.length) result.routes = routes;
      }
      // The config's DNS, as the reference (IPAM's is not passed on).
      if (cfg.dns) result.dns = cfg.dns;
      return result;
    });
  } finally {
    ctr.close();
  }
}
