/**
 * bridge CHECK: the live state still matches prevResult — bridge, container interface (veth,
 * MAC, addresses), host veth on the bridge, masquerade rules with `ipMasq` — and IPAM agrees.
 * Works for L2-only configs too.
 */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/dispatch';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import { defaultRunner } from '../../lib/exec/real';
import { parseCIDR, formatIP } from '../../lib/ipam/ip';
import { ipJson } from '../../lib/net/ip';
import { concurrently } from '../../lib/undo';
import { loadBridgeConfig } from './config';
import { readLink } from './links';
import { checkMasquerade } from './masquerade';

const fail = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);

export async function check(inv: Invocation): Promise<void> {
  const cfg = loadBridgeConfig(inv);
  const prev = prevResultOf(inv);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing');
  const ifaces = prev.interfaces ?? [];
  const contIndex = ifaces.findIndex((i) => i.name === inv.ifName && i.sandbox === inv.netns);
  const hostPrev = ifaces.find((i, idx) => idx !== contIndex && !i.sandbox && i.name !== cfg.bridge);
  const routes = prev.routes ?? [];
  const routeFamilies = (['-4', '-6'] as const).filter((fam) =>
    routes.some((r) => (fam === '-6') === r.dst.includes(':')),
  );

  // Every read at once; the checks below then run in the reference's order, so the first
  // mismatch reported is the one the reference would report (IPAM first). The masquerade rules,
  // which the reference does not check, are read alongside and reported last.
  const contIps = (prev.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === contIndex);
  const masq =
    cfg.ipMasq && contIps.length > 0
      ? checkMasquerade(defaultRunner(), cfg, inv, contIps).then(
          () => undefined,
          (e: unknown) => e,
        )
      : Promise.resolve(undefined);
  const [, br, cont, host, ...liveRoutes] = await concurrently(
    cfg.ipamType !== '' ? delegate('CHECK', cfg.ipamType, inv) : Promise.resolve(undefined),
    readLink(cfg.bridge),
    contIndex >= 0 ? readLink(inv.ifName, inv.netns) : Promise.resolve(undefined),
    hostPrev ? readLink(hostPrev.name) : Promise.resolve(undefined),
    ...routeFamilies.map(async (fam) => (await ipJson([fam, 'route', 'show', 'dev', inv.ifName], inv.netns)) ?? []),
  );

  if (!br) throw fail(`CNI created bridge ${cfg.bridge} in host namespace was not found`);
  if (br.kind !== 'bridge') throw fail(`${cfg.bridge} is not a bridge`);
  const promisc = br.flags.includes('PROMISC');
  if (promisc !== cfg.promiscMode)
    throw fail(
      `Bridge interface ${cfg.bridge} configured Promisc Mode ${cfg.promiscMode} doesn't match current state: ${promisc} `,
    );
  const brPrev = ifaces.find((i) => i.name === cfg.bridge);
  if (brPrev?.mac && brPrev.mac.toLowerCase() !== br.mac.toLowerCase())
    throw fail(`Interface ${cfg.bridge} Mac doesn't match: ${brPrev.mac} not found`);

  const contPrev = ifaces[contIndex];
  if (!contPrev) throw fail(`interface ${inv.ifName} with sandbox ${inv.netns} not found in prevResult`);
  if (!cont) throw fail(`CNI created interface in container ${inv.ifName} not found`);
  if (cont.kind !== 'veth') throw fail(`Error: Container interface ${inv.ifName} not of type veth`);
  if (contPrev.mac && contPrev.mac.toLowerCase() !== cont.mac.toLowerCase())
    throw fail(`Interface ${inv.ifName} Mac doesn't match: ${contPrev.mac} not found`);
  if (hostPrev && (!host || host.master !== cfg.bridge))
    throw fail(`CNI veth created for bridge ${cfg.bridge} was not found`);

  for (const ip of contIps) {
    const c = parseCIDR(ip.address);
    if (!c) continue;
    const want = formatIP(c.addr);
    if (!cont.addrs.some((a) => a.local === want && a.prefixlen === c.prefix))
      throw fail(`Failed to match addr ${ip.address} on interface ${inv.ifName}`);
  }
  routeFamilies.forEach((fam, i) => {
    const dsts = new Set((liveRoutes[i] ?? []).map((r) => String(r['dst'])));
    for (const r of routes.filter((x) => (fam === '-6') === x.dst.includes(':'))) {
      const c = parseCIDR(r.dst);
      const isDefault = c?.prefix === 0;
      if (!(isDefault ? dsts.has('default') : dsts.has(r.dst) || (c && dsts.has(formatIP(c.addr)))))
        throw fail(`Failed to match route ${r.dst} on interface ${inv.ifName}`);
    }
  });
  const masqError = await masq;
  if (masqError !== undefined) throw masqError;
}
