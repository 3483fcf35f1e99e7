/**
 * bridge CHECK: the live state still matches prevResult — bridge, container interface (veth,
 * MAC, addresses, routes), host veth on the bridge, masquerade rules with `ipMasq` (which the
 * reference does not check) — and IPAM agrees. Works for L2-only configs too. Kernel reads are
 * netlink requests from this process; the firewall read runs meanwhile.
 */
import { delegate } from '../../lib/cni/delegate';
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import { formatCIDR, networkOf, parseCIDR } from '../../lib/addr/ip';
import type { Kernel } from '../../lib/net/kernel';
import type { Link, Rtnl } from '../../lib/netlink';
import { loadBridgeConfig } from './config';
import { checkMasquerade } from '../../lib/firewall/ip-masq';
import { ipsOfInterface } from '../../lib/cni/result/select';

const fail = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);
const sameMac = (a: string | undefined, b: string | undefined): boolean =>
  (a ?? '').toLowerCase() === (b ?? '').toLowerCase();

export async function check(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadBridgeConfig(inv.config, inv.cniArgs);
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing');
  const ifaces = prev.interfaces ?? [];
  const contIndex = ifaces.findIndex((i) => i.name === inv.ifName && i.sandbox === inv.netns);
  // The firewall read starts first and is reported last (the reference does not check it).
  const contIps = ipsOfInterface(prev, contIndex);
  const masq =
    cfg.ipMasq && contIps.length > 0
      ? checkMasquerade(kernel.runner, cfg.ipMasqBackend, attachmentOf(inv), contIps).then(
          () => undefined,
          (e: unknown) => e,
        )
      : Promise.resolve(undefined);
  // IPAM first, as the reference: its verdict is the first one reported.
  if (cfg.ipamType !== '') {
    try {
      await delegate('CHECK', cfg.ipamType, inv, { runner: kernel.runner });
    } catch (e) {
      await masq;
      throw e;
    }
  }
  const hostPrev = ifaces.find((i, idx) => idx !== contIndex && !i.sandbox && i.name !== cfg.bridge);

  const host = kernel.rtnl();
  let br: Link | undefined;
  let hostVeth: Link | undefined;
  try {
    br = host.linkByName(cfg.bridge);
    hostVeth = hostPrev ? host.linkByName(hostPrev.name) : undefined;
  } finally {
    host.close();
  }
  if (!br) throw fail(`CNI created bridge ${cfg.bridge} in host namespace was not found`);
  if (br.kind !== 'bridge') throw fail(`${cfg.bridge} is not a bridge`);
  if (br.flags.promisc !== cfg.promiscMode)
    throw fail(
      `Bridge interface ${cfg.bridge} configured Promisc Mode ${cfg.promiscMode} doesn't match current state: ${br.flags.promisc} `,
    );
  const brPrev = ifaces.find((i) => i.name === cfg.bridge);
  if (brPrev?.mac && !sameMac(brPrev.mac, br.mac))
    throw fail(`Interface ${cfg.bridge} Mac doesn't match: ${brPrev.mac} not found`);

  const contPrev = ifaces[contIndex];
  if (!contPrev) throw fail(`interface ${inv.ifName} with sandbox ${inv.netns} not found in prevResult`);
  const ctr = kernel.rtnl(inv.netns);
  try {
    const cont = ctr.linkByName(inv.ifName);
    if (!cont) throw fail(`CNI created interface in container ${inv.ifName} not found`);
    if (cont.kind !== 'veth') throw fail(`Error: Container interface ${inv.ifName} not of type veth`);
    if (contPrev.mac && !sameMac(contPrev.mac, cont.mac))
      throw fail(`Interface ${inv.ifName} Mac doesn't match: ${contPrev.mac} not found`);
    if (hostPrev && (!hostVeth || hostVeth.masterIndex !== br.index))
      throw fail(`CNI veth created for bridge ${cfg.bridge} was not found`);
    checkAddresses(ctr, cont, prev.ips ?? [], contIndex, inv.ifName);
    checkRoutes(ctr, cont, prev.routes ?? [], inv.ifName);
  } catch (e) {
    await masq;
    throw e;
  } finally {
    ctr.close();
  }
  const masqError = await masq;
  if (masqError !== undefined) throw masqError;
}

function checkAddresses(
  ctr: Rtnl,
  cont: Link,
  ips: ReadonlyArray<{ interface?: number; address: string }>,
  contIndex: number,
  ifName: string,
): void {
  const live = new Set(ctr.addrs({ index: cont.index }).map((a) => a.cidr));
  for (const ip of ips) {
    if (ip.interface !== undefined && ip.interface !== contIndex) continue;
    const c = parseCIDR(ip.address);
    if (c && !live.has(formatCIDR(c.addr, c.prefix)))
      throw fail(`Failed to match addr ${ip.address} on interface ${ifName}`);
  }
}

/** Every prevResult route is in the container's routes through its interface (any table). */
function checkRoutes(ctr: Rtnl, cont: Link, routes: ReadonlyArray<{ dst: string }>, ifName: string): void {
  if (routes.length === 0) return;
  const live = new Set(ctr.routes({ table: 'all', oif: cont.index }).map((r) => r.dst));
  for (const r of routes) {
    const c = parseCIDR(r.dst);
    if (!c) continue;
    const network = formatCIDR(networkOf(c.addr, c.prefix), c.prefix);
    if (!live.has(network) && !live.has(r.dst)) throw fail(`Failed to match route ${r.dst} on interface ${ifName}`);
  }
}
