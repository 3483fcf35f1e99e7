/**
 * bridge ADD: bridge → IPAM → veth pair (+ bridge port settings, gateway address) in one host
 * `ip -batch` → addresses and routes in one batch inside the container → forwarding sysctls →
 * masquerade in one firewall transaction. Every side effect registers its undo first, so a
 * failure at any step leaves nothing behind and reports the original error.
 */
import { existsSync } from 'node:fs';
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/dispatch';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { IPConfig, Result, Route } from '../../lib/cni/result/types';
import { defaultRunner } from '../../lib/exec/real';
import { ExecError } from '../../lib/exec/runner';
import { formatCIDR, formatIP, networkOf, parseCIDR, parseIP, type Addr } from '../../lib/ipam/ip';
import { bestEffort } from '../../lib/log';
import { ipBatch, ipTry, randomMac, randomVethName } from '../../lib/net/ip';
import { setupSpoofcheck, spoofRef, teardownSpoofcheck } from '../../lib/firewall/nftables/spoofcheck';
import { settleIPv6 } from '../../lib/net/settle';
import { ensureSysctl, setSysctlsIn } from '../../lib/net/sysctl';
import { concurrently, UndoStack } from '../../lib/undo';
import { loadBridgeConfig, type BridgeConfig } from './config';
import { setupMasquerade, teardownMasquerade } from './masquerade';
import { readLink, type LinkState } from './links';

export const CONTAINER_IFACE_INDEX = 2;

interface Gateway {
  readonly addr: Addr;
  readonly prefix: number;
}

/** Fills each IP's gateway (network + 1 when IPAM gave none and the bridge is the gateway). */
function calcGateways(ips: IPConfig[], cfg: BridgeConfig): Map<4 | 6, Gateway> {
  const gws = new Map<4 | 6, Gateway>();
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

/** Host-side lines that put gateway addresses on the bridge (the reference's ensureAddr rules). */
function gatewayLines(br: LinkState | undefined, cfg: BridgeConfig, gws: Map<4 | 6, Gateway>): string[] {
  const lines: string[] = [];
  for (const gw of gws.values()) {
    const want = formatIP(gw.addr);
    const present = br?.addrs ?? [];
    if (present.some((a) => a.local === want && a.prefixlen === gw.prefix)) continue;
    const conflicting = present.filter((a) => {
      if (a.family !== gw.addr.family) return false;
      if (a.family === 6) {
        const other = parseIP(a.local);
        const p = Math.min(a.prefixlen, gw.prefix);
        return !!other && networkOf(other, p).value === networkOf(gw.addr, p).value && !a.local.startsWith('fe80:');
      }
      return true;
    });
    if (conflicting.length > 0 && !cfg.forceAddress) {
      throw new CniError(
        ErrorCode.Internal,
        `${JSON.stringify(cfg.bridge)} already has an IP address different from ${formatCIDR(gw.addr, gw.prefix)}`,
      );
    }
    for (const a of conflicting) lines.push(`addr del ${a.local}/${a.prefixlen} dev ${cfg.bridge}`);
    lines.push(`addr add ${formatCIDR(gw.addr, gw.prefix)} dev ${cfg.bridge}`);
  }
  return lines;
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
  if (ips.some((ip) => ip.address.includes(':'))) {
    v.push(
      ['net/ipv6/conf/lo/disable_ipv6', '0'],
      [`net/ipv6/conf/${ifName}/disable_ipv6`, '0'],
      [`net/ipv6/conf/${ifName}/keep_addr_on_down`, '1'],
    );
  }
  return v;
}

/** `route add` lines for the container; a route without gw uses its family's gateway. */
function routeLines(routes: readonly Route[], gws: Map<4 | 6, Gateway>, ifName: string): string[] {
  return routes.map((r) => {
    const dst = parseCIDR(r.dst);
    if (!dst) throw new CniError(ErrorCode.Internal, `invalid route destination ${r.dst}`);
    const gw = r.gw ?? (gws.get(dst.addr.family) ? formatIP(gws.get(dst.addr.family)!.addr) : undefined);
    const parts = [`route add ${r.dst}`];
    if (gw) parts.push(`via ${gw}`);
    parts.push(`dev ${ifName}`);
    if (r.priority !== undefined) parts.push(`metric ${r.priority}`);
    if (r.mtu !== undefined) parts.push(`mtu ${r.mtu}`);
    if (r.advmss !== undefined) parts.push(`advmss ${r.advmss}`);
    if (r.table !== undefined) parts.push(`table ${r.table}`);
    if (r.scope !== undefined) parts.push(`scope ${r.scope}`);
    return parts.join(' ');
  });
}

/** The batch line number (1-based) an `ip -batch` failure names, if any. */
const failedLine = (e: unknown): number | undefined => {
  const m = e instanceof ExecError ? /Command failed -:(\d+)/.exec(e.stderr) : null;
  return m?.[1] ? Number(m[1]) : undefined;
};

export async function add(inv: Invocation): Promise<Result> {
  const cfg = loadBridgeConfig(inv);
  if (!existsSync(inv.netns))
    throw new CniError(
      ErrorCode.Internal,
      `failed to open netns ${JSON.stringify(inv.netns)}: no such file or directory`,
    );
  const undo = new UndoStack();
  return undo.guard(async () => {
    // The bridge is read while IPAM allocates; an unusable bridge then releases the lease.
    if (cfg.ipamType !== '') undo.push('IPAM DEL', () => delegate('DEL', cfg.ipamType, inv));
    const [br, ipam] = await concurrently(
      readLink(cfg.bridge),
      cfg.ipamType !== '' ? delegate('ADD', cfg.ipamType, inv) : Promise.resolve(undefined),
    );
    if (br && br.kind !== 'bridge')
      throw new CniError(ErrorCode.Internal, `${JSON.stringify(cfg.bridge)} already exists but is not a bridge`);
    if (cfg.ipamType !== '' && !ipam?.ips?.length)
      throw new CniError(ErrorCode.Internal, 'IPAM plugin returned missing IP config');
    const ips: IPConfig[] = (ipam?.ips ?? []).map((ip) => ({ ...ip }));
    const gws = calcGateways(ips, cfg);
    const routes: Route[] = [...(ipam?.routes ?? [])];
    if (cfg.isDefaultGateway) {
      for (const [fam, gw] of gws) {
        const dst = fam === 4 ? '0.0.0.0/0' : '::/0';
        if (!routes.some((r) => r.dst === dst && r.gw)) routes.push({ dst, gw: formatIP(gw.addr) });
      }
    }

    // Host side: one batch. The bridge MAC is set explicitly so it never follows port churn.
    const brMac = br?.mac || randomMac();
    const hostVeth = randomVethName();
    const hostMac = randomMac();
    const contMac = cfg.mac ?? randomMac();
    const mtu = cfg.mtu > 0 ? ` mtu ${cfg.mtu}` : '';
    const host: string[] = [];
    if (!br)
      host.push(
        `link add name ${cfg.bridge} address ${brMac}${mtu} type bridge${cfg.vlan || cfg.vlanTrunk.length ? ' vlan_filtering 1' : ''}`,
      );
    else host.push(`link set ${cfg.bridge} address ${brMac}`);
    host.push(`link set ${cfg.bridge} up`);
    if (cfg.promiscMode) host.push(`link set ${cfg.bridge} promisc on`);
    const vethLine = host.length + 1;
    host.push(
      `link add name ${hostVeth}${mtu} address ${hostMac} type veth peer name ${inv.ifName}${mtu} address ${contMac} netns ${inv.netns}`,
    );
    host.push(`link set ${hostVeth} master ${cfg.bridge}`);
    host.push(
      `link set ${hostVeth} type bridge_slave hairpin ${cfg.hairpinMode ? 'on' : 'off'} isolated ${cfg.portIsolation ? 'on' : 'off'}`,
    );
    host.push(`link set ${hostVeth} up`);
    host.push(...gatewayLines(br, cfg, cfg.isGateway ? gws : new Map()));
    undo.push('remove host veth', () => ipTry(['link', 'del', hostVeth]));
    try {
      await ipBatch(host);
    } catch (e) {
      if ((cfg.vlan || cfg.vlanTrunk.length) && e instanceof ExecError && /Operation not supported/.test(e.stderr)) {
        throw new CniError(
          ErrorCode.Internal,
          'bridge VLAN filtering is not supported by this kernel (vlan/vlanTrunk need CONFIG_BRIDGE_VLAN_FILTERING)',
          e.message,
        );
      }
      if (failedLine(e) === vethLine) {
        throw new CniError(
          ErrorCode.Internal,
          `container veth name (${JSON.stringify(inv.ifName)}) peer provided (${JSON.stringify(hostVeth)}) already exists`,
          (e as Error).message,
        );
      }
      throw e;
    }
    await bestEffort('disable router advertisements on the bridge', () =>
      ensureSysctl(`net/ipv6/conf/${cfg.bridge}/accept_ra`, '0'),
    );
    if (cfg.vlan || cfg.vlanTrunk.length) await setupVlans(cfg, hostVeth);
    // The rest is independent work, run side by side: the container side (sysctls before any
    // address exists, then one ip batch inside the namespace), MAC spoof check, forwarding,
    // masquerade. Every undo is registered before any of them starts.
    const spoof = cfg.macspoofchk ? spoofRef(inv.containerId, inv.ifName) : undefined;
    const runner = defaultRunner();
    if (spoof) undo.push('remove MAC spoof check', () => teardownSpoofcheck(runner, spoof));
    const masq = cfg.ipMasq && ips.length > 0;
    if (masq) undo.push('remove masquerade rules', () => teardownMasquerade(runner, inv));
    await concurrently(
      configureContainer(inv, cfg, ips, routes, gws),
      spoof ? setupSpoofcheck(runner, spoof, hostVeth, contMac) : Promise.resolve(),
      cfg.isGateway ? enableForwarding(gws) : Promise.resolve(),
      masq ? setupMasquerade(runner, cfg, inv, ips) : Promise.resolve(),
    );

    const result: Result = {
      cniVersion: inv.cniVersion,
      interfaces: [
        { name: cfg.bridge, mac: brMac },
        { name: hostVeth, mac: hostMac },
        { name: inv.ifName, mac: contMac, sandbox: inv.netns },
      ],
    };
    if (ips.length) result.ips = ips;
    if (routes.length) result.routes = routes;
    const dns = cfg.dns ?? ipam?.dns;
    if (dns) result.dns = dns;
    return result;
  });
}

/** Inside the container: sysctls first (before any address exists), then one ip batch. */
async function configureContainer(
  inv: Invocation,
  cfg: BridgeConfig,
  ips: readonly IPConfig[],
  routes: readonly Route[],
  gws: Map<4 | 6, Gateway>,
): Promise<void> {
  if (ips.length > 0) await setSysctlsIn(inv.netns, containerSysctls(inv.ifName, cfg, ips));
  const cont: string[] = [];
  for (const ip of ips)
    cont.push(`addr add ${ip.address} dev ${inv.ifName}${ip.address.includes(':') && !cfg.enabledad ? ' nodad' : ''}`);
  if (!cfg.disableContainerInterface) cont.push(`link set ${inv.ifName} up`);
  cont.push(...routeLines(routes, gws, inv.ifName));
  await ipBatch(cont, inv.netns);
  // With DAD on, IPv6 addresses start tentative; wait so the container can use them at once.
  if (cfg.enabledad && gws.has(6) && !cfg.disableContainerInterface) await settleIPv6(inv.ifName, inv.netns);
}

async function enableForwarding(gws: Map<4 | 6, Gateway>): Promise<void> {
  if (gws.has(4)) await ensureSysctl('net/ipv4/ip_forward', '1');
  if (gws.has(6)) await ensureSysctl('net/ipv6/conf/all/forwarding', '1');
}

/** Access VLAN (pvid untagged) and trunk VIDs on the host port, in one `bridge -batch`. */
async function setupVlans(cfg: BridgeConfig, hostVeth: string): Promise<void> {
  const lines: string[] = [];
  if (!cfg.preserveDefaultVlan) lines.push(`vlan del vid 1 dev ${hostVeth}`);
  const native = cfg.vlan || (cfg.vlanTrunk.length ? 1 : 0);
  if (native) lines.push(`vlan add vid ${native} dev ${hostVeth} pvid untagged`);
  for (const id of cfg.vlanTrunk) if (id !== native) lines.push(`vlan add vid ${id} dev ${hostVeth}`);
  await defaultRunner().run({ tool: 'bridge', argv: ['-batch', '-'], input: lines.join('\n') + '\n' });
}
