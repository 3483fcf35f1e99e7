/**
 * ptp ADD: IPAM → forwarding → veth pair (container end born in the container) → the gateway
 * address and host routes on the host end → the container's addresses, IPv6 settling, IPAM
 * routes and the point-to-point routes (routes.ts) → masquerade. The firewall program runs
 * while the netlink work is done. Every side effect registers its undo first, so a failure
 * leaves no veth, lease or rule behind.
 */
import { familyOfText } from '../../lib/addr/ip';
import { delegateTo } from '../../lib/cni/delegate';
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { IPConfig, Result } from '../../lib/cni/result/types';
import { bestEffort } from '../../lib/log';
import { setupMasquerade, teardownMasquerade } from '../../lib/firewall/ip-masq';
import { addRoutes, configureInterface, gatewaysOf } from '../../lib/net/interface';
import type { Kernel } from '../../lib/net/kernel';
import { settleIPv6 } from '../../lib/net/settle';
import { createVethPair } from '../../lib/net/veth';
import { UndoStack } from '../../lib/undo';
import { loadPtpConfig, requireIpam } from './config';
import { hostSide, ptpAddresses, routeViaGateway } from './routes';
import { deleteLinkNamed } from '../../lib/net/container-link';
import { requireNetns } from '../../lib/net/open-netns';

export const CONTAINER_IFACE_INDEX = 1;

/** IPv6 on where an IPv6 address goes (the reference's ConfigureIface). */
function ipv6Sysctls(ifName: string, ips: readonly IPConfig[]): Array<[string, string]> {
  if (!ips.some((ip) => familyOfText(ip.address) === 6)) return [];
  return [
    ['net/ipv6/conf/lo/disable_ipv6', '0'],
    [`net/ipv6/conf/${ifName}/disable_ipv6`, '0'],
    [`net/ipv6/conf/${ifName}/keep_addr_on_down`, '1'],
  ];
}

export async function add(inv: Invocation, kernel: Kernel): Promise<Result> {
  const cfg = loadPtpConfig(inv.config);
  const ipamType = requireIpam(cfg);
  requireNetns(inv.netns);
  const undo = new UndoStack();
  const host = kernel.rtnl();
  const runner = kernel.runner;
  try {
    return await undo.guard(async () => {
      const delegate = delegateTo(ipamType, inv, { runner });
      undo.push('IPAM DEL', () => delegate.run('DEL'));
      const ipam = await delegate.run('ADD');
      if (!ipam?.ips?.length) throw new CniError(ErrorCode.Internal, 'IPAM plugin returned missing IP config');
      const ips: IPConfig[] = ipam.ips.map((ip) => ({ ...ip, interface: CONTAINER_IFACE_INDEX }));
      const routes = [...(ipam.routes ?? [])];
      const addrs = ptpAddresses(ips);
      if (addrs.some((a) => a.hostBits === 32)) kernel.ensureSysctl('net/ipv4/ip_forward', '1');
      if (addrs.some((a) => a.hostBits === 128)) kernel.ensureSysctl('net/ipv6/conf/all/forwarding', '1');

      // The firewall program starts first and runs while this process does the netlink work.
      if (cfg.ipMasq) undo.push('remove masquerade rules', () => teardownMasquerade(runner, attachmentOf(inv)));
      const firewall = undo.track(
        cfg.ipMasq ? setupMasquerade(runner, cfg.ipMasqBackend, attachmentOf(inv), ips) : undefined,
      );

      const veth = createVethPair(host, inv.netns, inv.ifName, { mtu: cfg.mtu > 0 ? cfg.mtu : undefined });
      undo.push('remove host veth', () => deleteLinkNamed(host, veth.hostName));
      host.setUp(veth.hostIndex);
      await bestEffort('disable router advertisements on the host veth', async () =>
        kernel.ensureSysctl(`net/ipv6/conf/${veth.hostName}/accept_ra`, '0'),
      );

      // The host end first: its IPv6 gateway address then runs DAD while the container's does.
      hostSide(host, veth.hostIndex, addrs);
      kernel.setSysctlsIn(inv.netns, ipv6Sysctls(inv.ifName, ips));
      const ctr = kernel.rtnl(inv.netns);
      try {
        const gateways = gatewaysOf(ips);
        const index = configureInterface(ctr, inv.ifName, { ips, routes: [], gateways, nodad: false, up: true });
        // IPv6 routes below name a source address, which must have passed DAD.
        if (gateways.has(6)) await settleIPv6(ctr, index, inv.ifName);
        addRoutes(ctr, index, routes, gateways);
        routeViaGateway(ctr, index, addrs);
      } finally {
        ctr.close();
      }
      // Beyond the reference: IPv6 works both ways when ADD returns (the gateway answers neighbour
      // solicitations only once its DAD is over).
      if (addrs.some((a) => a.hostBits === 128)) await settleIPv6(host, veth.hostIndex, veth.hostName);
      await firewall;

      const result: Result = {
        cniVersion: inv.cniVersion,
        interfaces: [
          { name: veth.hostName, mac: veth.hostMac },
          { name: inv.ifName, mac: veth.containerMac, sandbox: inv.netns },
        ],
        ips,
      };
      if (routes.length) result.routes = routes;
      const dns = cfg.dns ?? ipam.dns;
      if (dns) result.dns = dns;
      return result;
    });
  } finally {
    host.close();
  }
}
