/**
 * bridge ADD: bridge → IPAM → veth pair born in the container (+ bridge port settings, gateway
 * address; a dhcp IPAM runs here, once the container's interface exists) → addresses and routes inside the container → forwarding sysctls → masquerade in
 * one firewall transaction. Kernel changes go over netlink from this process; the firewall
 * (and the MAC spoof check) are the only programs started, and they run while the netlink
 * work is done. Every side effect registers its undo first, so a failure at any step leaves
 * nothing behind and reports the original error.
 */
import { delegateTo, ipamUsesInterface } from '../../lib/cni/delegate';
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { IPConfig, Result, Route } from '../../lib/cni/result/types';
import type { Runner } from '../../lib/exec/runner';
import { setupSpoofcheck, spoofRef, teardownSpoofcheck } from '../../lib/firewall/nftables/spoofcheck';
import {
  familyOfText,
  formatCIDR,
  formatIP,
  networkOf,
  parseCIDR,
  parseIP,
  type Addr,
  type Family,
} from '../../lib/addr/ip';
import { bestEffort } from '../../lib/log';
import { configureInterface } from '../../lib/net/interface';
import type { Kernel } from '../../lib/net/kernel';
import { randomMac } from '../../lib/net/mac';
import { settleIPv6 } from '../../lib/net/settle';
import { createVethPair } from '../../lib/net/veth';
import { isErrno, type Link, type Rtnl } from '../../lib/netlink';
import { UndoStack } from '../../lib/undo';
import { loadBridgeConfig, type BridgeConfig } from './config';
import { setupMasquerade, teardownMasquerade } from '../../lib/firewall/ip-masq';
import { deleteLinkNamed } from '../../lib/net/container-link';
import { clearTeardown } from '../../lib/state/marks';
import { requireNetns } from '../../lib/net/open-netns';

export const CONTAINER_IFACE_INDEX = 2;

interface Gateway {
  readonly addr: Addr;
  readonly prefix: number;
}

/** Fills each IP's gateway (network + 1 when IPAM gave none and the bridge is the gateway). */
function calcGateways(ips: IPConfig[], cfg: BridgeConfig): Map<Family, Gateway> {
  const gws = new Map<Family, Gateway>();
  for (const ip of ips) {
    const cidr = parseCIDR(ip.address);
    if (!cidr) throw new CniError(ErrorCode.Internal, `IPAM returned an invalid address ${ip.address}`);
    ip.interface = CONTAINER_IFACE_INDEX;
    let gw = ip.gateway ? parseIP(ip.gateway) : undefined;
    if (!gw && cfg.isGateway) {
      gw = { family: cidr.addr.family, value: networkOf(cidr.addr, cidr.prefix).value + 1n };
      ip.gateway = formatIP(gw);
    }
    if (gw && !gws.has(gw.family)) gws.set(gw.family, { addr: gw, prefix: cidr.prefix });
  }
  return gws;
}

/**
 * Puts the gateway addresses on the bridge (the reference's ensureAddr rules): an address of
 * the same family already there is an error unless `forceAddress` replaces it; IPv6 only
 * conflicts within the same subnet, and link-local addresses never do.
 */
function ensureGatewayAddrs(host: Rtnl, br: Link, cfg: BridgeConfig, gws: Map<Family, Gateway>): void {
  const present = host.addrs({ index: br.index });
  for (const gw of gws.values()) {
    const want = formatIP(gw.addr);
    if (present.some((a) => a.address === want && a.prefixLen === gw.prefix)) continue;
    const conflicting = present.filter((a) => {
      if (a.family !== gw.addr.family) return false;
      if (a.family === 6) {
        const other = parseIP(a.address);
        const p = Math.min(a.prefixLen, gw.prefix);
        return !!other && networkOf(other, p).value === networkOf(gw.addr, p).value && !a.address.startsWith('fe80:');
      }
      return true;
    });
    if (conflicting.length > 0 && !cfg.forceAddress) {
      throw new CniError(
        ErrorCode.Internal,
        `${JSON.stringify(cfg.bridge)} already has an IP address different from ${formatCIDR(gw.addr, gw.prefix)}`,
      );
    }
    for (const a of conflicting) host.deleteAddr(br.index, a.cidr);
    host.addAddr(br.index, formatCIDR(gw.addr, gw.prefix));
  }
}

/**
 * Container interface sysctls, as the reference sets them: DAD off unless `enabledad` (then
 * enhanced DAD too), gratuitous ARP on link-up/address change, and IPv6 enabled where an IPv6
 * address goes (kept across link down, as newer reference releases do).
 */
function containerSysctls(ifName: string, cfg: BridgeConfig, ips: readonly IPConfig[]): Array<[string, string]> {
  const v: Array<[string, string]> = [];
  if (cfg.enabledad) v.push([`net/ipv6/conf/${ifName}/enhanced_dad`, '1'], [`net/ipv6/conf/${ifName}/accept_dad`, '1']);
  else v.push([`net/ipv6/conf/${ifName}/accept_dad`, '0']);
  v.push([`net/ipv4/conf/${ifName}/arp_notify`, '1']);
  if (ips.some((ip) => familyOfText(ip.address) === 6)) {
    v.push(
      ['net/ipv6/conf/lo/disable_ipv6', '0'],
      [`net/ipv6/conf/${ifName}/disable_ipv6`, '0'],
      [`net/ipv6/conf/${ifName}/keep_addr_on_down`, '1'],
    );
  }
  return v;
}

/** The bridge, created when missing; its MAC is set explicitly so it never follows port churn. */
function ensureBridge(host: Rtnl, existing: Link | undefined, cfg: BridgeConfig): Link {
  const vlans = cfg.vlan > 0 || cfg.vlanTrunk.length > 0;
  let br = existing;
  if (!br) {
    try {
      host.createBridge({
        name: cfg.bridge,
        mac: randomMac(),
        mtu: cfg.mtu > 0 ? cfg.mtu : undefined,
        vlanFiltering: vlans ? true : undefined,
      });
    } catch (e) {
      if (vlans && isErrno(e, 'EOPNOTSUPP', 'EINVAL'))
        throw new CniError(
          ErrorCode.Internal,
          'bridge VLAN filtering is not supported by this kernel (vlan/vlanTrunk need CONFIG_BRIDGE_VLAN_FILTERING)',
          e.message,
        );
      if (!isErrno(e, 'EEXIST')) throw e; // created by a concurrent ADD meanwhile
    }
    br = host.linkByName(cfg.bridge);
    if (!br) throw new CniError(ErrorCode.Internal, `bridge ${cfg.bridge} vanished right after its creation`);
    if (br.kind !== 'bridge')
      throw new CniError(ErrorCode.Internal, `${JSON.stringify(cfg.bridge)} already exists but is not a bridge`);
  }
  // Index and MAC are all the caller uses, and this change alters neither: no second read.
  host.setLink(br.index, { mac: br.mac, up: true, ...(cfg.promiscMode ? { promisc: true } : {}) });
  return br;
}

export async function add(inv: Invocation, kernel: Kernel): Promise<Result> {
  const cfg = loadBridgeConfig(inv.config, inv.cniArgs);
  if (cfg.ipMasq || cfg.macspoofchk) clearTeardown(inv.env, attachmentOf(inv)); // a DEL's mark, this attachment lives again
  requireNetns(inv.netns);
  const undo = new UndoStack();
  const host = kernel.rtnl();
  try {
    return await undo.guard(async () => {
      const existing = host.linkByName(cfg.bridge);
      if (existing && existing.kind !== 'bridge')
        throw new CniError(ErrorCode.Internal, `${JSON.stringify(cfg.bridge)} already exists but is not a bridge`);
      // Found (and refused if it would loop) before anything is created.
      const delegate = cfg.ipamType !== '' ? delegateTo(cfg.ipamType, inv, { runner: kernel.runner }) : undefined;
      const runIpam = async (): Promise<Result | undefined> => {
        if (!delegate) return undefined;
        undo.push('IPAM DEL', () => delegate.run('DEL'));
        const r = await delegate.run('ADD');
        if (!r?.ips?.length) throw new CniError(ErrorCode.Internal, 'IPAM plugin returned missing IP config');
        return r;
      };
      const runner = kernel.runner;
      /** What the IPAM result decides: addresses, gateways, routes; masquerade starts at once. */
      const fromIpam = (ipam: Result | undefined) => {
        const ips: IPConfig[] = (ipam?.ips ?? []).map((ip) => ({ ...ip }));
        const gws = calcGateways(ips, cfg);
        const routes: Route[] = [...(ipam?.routes ?? [])];
        if (cfg.isDefaultGateway) {
          for (const [fam, gw] of gws) {
            const dst = fam === 4 ? '0.0.0.0/0' : '::/0';
            if (!routes.some((r) => r.dst === dst && r.gw)) routes.push({ dst, gw: formatIP(gw.addr) });
          }
        }
        // The firewall programs start first and run while this process does the netlink work.
        const masq = cfg.ipMasq && ips.length > 0;
        if (masq) undo.push('remove masquerade rules', () => teardownMasquerade(runner, attachmentOf(inv)));
        const firewall = undo.track(
          masq ? setupMasquerade(runner, cfg.ipMasqBackend, attachmentOf(inv), ips) : undefined,
        );
        return { ipam, ips, gws, routes, firewall };
      };
      // An IPAM that works through the container's interface (dhcp) runs once the veth exists,
      // as the reference runs every IPAM; any other runs first, so its result is known early.
      const late = ipamUsesInterface(cfg.ipamType);
      let plan = late ? undefined : fromIpam(await runIpam());

      const br = ensureBridge(host, existing, cfg);
      const veth = createVethPair(host, inv.netns, inv.ifName, {
        mtu: cfg.mtu > 0 ? cfg.mtu : undefined,
        containerMac: cfg.mac,
      });
      undo.push('remove host veth', async () => deleteLinkNamed(host, veth.hostName));
      host.setLink(veth.hostIndex, { masterIndex: br.index });
      host.setBridgePort(veth.hostIndex, { hairpin: cfg.hairpinMode, isolated: cfg.portIsolation });
      host.setUp(veth.hostIndex);
      const vlans = cfg.vlan || cfg.vlanTrunk.length;
      // The port's VLANs must carry the DHCP exchange of a late IPAM.
      if (late && vlans) await setupVlans(runner, cfg, veth.hostName);
      plan ??= fromIpam(await runIpam());
      const { ipam, ips, gws, routes, firewall } = plan;
      if (cfg.isGateway) ensureGatewayAddrs(host, br, cfg, gws);
      await bestEffort('disable router advertisements on the bridge', async () =>
        kernel.ensureSysctl(`net/ipv6/conf/${cfg.bridge}/accept_ra`, '0'),
      );
      if (cfg.isGateway) enableForwarding(kernel, gws);

      const spoof = cfg.macspoofchk ? spoofRef(inv.containerId, inv.ifName) : undefined;
      if (spoof) undo.push('remove MAC spoof check', () => teardownSpoofcheck(runner, spoof));
      const spoofing = undo.track(spoof ? setupSpoofcheck(runner, spoof, veth.hostName, veth.containerMac) : undefined);
      if (!late && vlans) await setupVlans(runner, cfg, veth.hostName);

      // Inside the container: sysctls first (before any address exists), then the addresses.
      if (ips.length > 0) kernel.setSysctlsIn(inv.netns, containerSysctls(inv.ifName, cfg, ips));
      const ctr = kernel.rtnl(inv.netns);
      try {
        const index = configureInterface(ctr, inv.ifName, {
          ips,
          routes,
          gateways: new Map([...gws].map(([f, g]) => [f, formatIP(g.addr)])),
          nodad: !cfg.enabledad,
          up: !cfg.disableContainerInterface,
        });
        // With DAD on, IPv6 addresses start tentative; wait so the container can use them at once.
        if (cfg.enabledad && gws.has(6) && !cfg.disableContainerInterface) await settleIPv6(ctr, index, inv.ifName);
      } finally {
        ctr.close();
      }
      await firewall;
      await spoofing;

      const result: Result = {
        cniVersion: inv.cniVersion,
        interfaces: [
          { name: cfg.bridge, mac: br.mac ?? '' },
          { name: veth.hostName, mac: veth.hostMac },
          { name: inv.ifName, mac: veth.containerMac, sandbox: inv.netns },
        ],
      };
      if (ips.length) result.ips = ips;
      if (routes.length) result.routes = routes;
      const dns = cfg.dns ?? ipam?.dns;
      if (dns) result.dns = dns;
      return result;
    });
  } finally {
    host.close();
  }
}

function enableForwarding(kernel: Kernel, gws: Map<Family, Gateway>): void {
  if (gws.has(4)) kernel.ensureSysctl('net/ipv4/ip_forward', '1');
  if (gws.has(6)) kernel.ensureSysctl('net/ipv6/conf/all/forwarding', '1');
}

/** Access VLAN (pvid untagged) and trunk VIDs on the host port, in one `bridge -batch`. */
async function setupVlans(runner: Runner, cfg: BridgeConfig, hostVeth: string): Promise<void> {
  const lines: string[] = [];
  if (!cfg.preserveDefaultVlan) lines.push(`vlan del vid 1 dev ${hostVeth}`);
  const native = cfg.vlan || (cfg.vlanTrunk.length ? 1 : 0);
  if (native) lines.push(`vlan add vid ${native} dev ${hostVeth} pvid untagged`);
  for (const id of cfg.vlanTrunk) if (id !== native) lines.push(`vlan add vid ${id} dev ${hostVeth}`);
  await runner.run({ tool: 'bridge', argv: ['-batch', '-'], input: lines.join('\n') + '\n' });
}
