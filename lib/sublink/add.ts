/**
 * macvlan/ipvlan ADD: master (created as a VLAN sub-interface when asked) → the container's link,
 * born in its namespace → IPAM → sysctls, addresses, IPv6 settling, routes. Every side effect
 * registers its undo first, so a failure at any step leaves no link, no lease and no VLAN user
 * behind and reports the original error.
 */
import { familyOfText } from '../addr/ip';
import { delegateTo } from '../cni/delegate';
import type { Invocation } from '../cni/invocation';
import { CniError, ConfigError, ErrorCode } from '../cni/errors';
import type { IPConfig, Result, Route } from '../cni/result/types';
import { addRoutes, configureInterface, gatewaysOf } from '../net/interface';
import type { Kernel } from '../net/kernel';
import { settleIPv6 } from '../net/settle';
import type { SysctlValues } from '../net/sysctl';
import { releaseVlans, vlanOptionsFor } from '../net/vlan';
import type { Rtnl } from '../netlink';
import { withNetnsFd } from '../sys/netns';
import { UndoStack } from '../undo';
import { vlanUserOf, type SubLinkConfig } from './config';
import { checkMtu, createChild, resolveMaster } from './create';
import { deleteLinkNamed } from '../net/container-link';
import { requireNetns } from '../net/open-netns';

/** The reference's container sysctls (v1.9): gratuitous ARP/NA on changes, IPv6 on where it goes. */
export function containerSysctls(ifName: string, ips: readonly IPConfig[]): SysctlValues {
  const v: Array<[string, string]> = [
    [`net/ipv4/conf/${ifName}/arp_notify`, '1'],
    [`net/ipv6/conf/${ifName}/ndisc_notify`, '1'],
  ];
  if (ips.some((ip) => familyOfText(ip.address) === 6))
    v.push(
      ['net/ipv6/conf/lo/disable_ipv6', '0'],
      [`net/ipv6/conf/${ifName}/disable_ipv6`, '0'],
      [`net/ipv6/conf/${ifName}/keep_addr_on_down`, '1'],
    );
  return v;
}

/**
 * Addresses, link up, IPv6 settling (DAD stays on, as in the reference), then routes: a route
 * through an IPv6 gateway needs a usable source address.
 */
export async function configureL3(
  kernel: Kernel,
  ctr: Rtnl,
  netns: string,
  ifName: string,
  ips: readonly IPConfig[],
  routes: readonly Route[],
): Promise<number> {
  kernel.setSysctlsIn(netns, containerSysctls(ifName, ips));
  const gateways = gatewaysOf(ips);
  const index = configureInterface(ctr, ifName, { ips, routes: [], gateways, nodad: false, up: true });
  if (gateways.has(6)) await settleIPv6(ctr, index, ifName);
  addRoutes(ctr, index, routes, gateways);
  return index;
}

export async function addSubLink(
  cfg: SubLinkConfig,
  inv: Invocation,
  prev: Result | undefined,
  kernel: Kernel,
): Promise<Result> {
  requireNetns(inv.netns);
  // ipvlan without IPAM takes its addresses from a chained prevResult; there is no L2-only ipvlan.
  const chained = cfg.kind === 'ipvlan' && cfg.ipamType === '' && (prev?.ips?.length ?? 0) > 0 ? prev : undefined;
  if (cfg.kind === 'ipvlan' && cfg.ipamType === '' && !chained)
    throw new ConfigError('ipvlan needs an "ipam" section, or a prevResult with IPs to take over');

  // Found (and refused if it would loop) before anything is created.
  const delegate = cfg.ipamType !== '' ? delegateTo(cfg.ipamType, inv, { runner: kernel.runner }) : undefined;

  const undo = new UndoStack();
  const host = kernel.rtnl();
  const ctr = kernel.rtnl(inv.netns);
  try {
    return await undo.guard(async () => {
      const user = vlanUserOf(inv);
      const master = await resolveMaster(cfg, host, ctr, prev, user, vlanOptionsFor(inv.env));
      if (master.countedVlan)
        undo.push('release the VLAN sub-interface', () => releaseVlans(host, user, vlanOptionsFor(inv.env)));
      checkMtu(cfg.mtu, master.link);

      const child = {
        kind: cfg.kind,
        name: inv.ifName,
        parentIndex: master.link.index,
        mode: cfg.mode,
        mtu: cfg.mtu > 0 ? cfg.mtu : undefined,
        mac: cfg.mac,
        bcQueueLen: cfg.bcQueueLen,
      };
      if (cfg.linkInContainer) createChild(ctr, child);
      else withNetnsFd(inv.netns, (netnsFd) => createChild(host, { ...child, netnsFd }));
      undo.push(`delete ${cfg.kind} ${inv.ifName}`, () => deleteLinkNamed(ctr, inv.ifName));

      let ips: IPConfig[] = [];
      let routes: Route[] = [];
      if (delegate) {
        undo.push('IPAM DEL', () => delegate.run('DEL'));
        const ipam = await delegate.run('ADD');
        if (!ipam?.ips?.length) throw new CniError(ErrorCode.Internal, 'IPAM plugin returned missing IP config');
        ips = ipam.ips.map((ip) => ({ ...ip, interface: 0 }));
        routes = [...(ipam.routes ?? [])];
      } else if (chained) {
        ips = (chained.ips ?? []).map((ip) => ({ ...ip, interface: 0 }));
        routes = [...(chained.routes ?? [])];
      }
      if (ips.length > 0) await configureL3(kernel, ctr, inv.netns, inv.ifName, ips, routes);
      else {
        const link = ctr.linkByName(inv.ifName);
        if (!link)
          throw new CniError(ErrorCode.Internal, `failed to find interface name ${JSON.stringify(inv.ifName)}`);
        ctr.setUp(link.index);
      }

      const link = ctr.linkByName(inv.ifName);
      const result: Result = {
        cniVersion: inv.cniVersion,
        interfaces: [{ name: inv.ifName, mac: link?.mac ?? '', sandbox: inv.netns }],
      };
      if (ips.length) result.ips = ips;
      if (routes.length) result.routes = routes;
      // As the reference: the config's DNS (IPAM's is not passed on).
      if (cfg.dns) result.dns = cfg.dns;
      return result;
    });
  } finally {
    ctr.close();
    host.close();
  }
}
