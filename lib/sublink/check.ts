/**
 * macvlan/ipvlan CHECK: the container's link still is what ADD made (kind, mode, MAC, a child of
 * the master) and carries prevResult's addresses and routes; IPAM agrees. Messages as the
 * reference's, with its order: netns, IPAM, prevResult, master, interface, addresses, routes.
 */
import { delegate } from '../cni/delegate';
import type { Invocation } from '../cni/invocation';
import { CniError, ErrorCode } from '../cni/errors';
import { prevResultOf } from '../cni/netconf';
import type { Kernel } from '../net/kernel';
import { checkAddresses, checkRoutes } from '../net/verify';
import type { Link } from '../netlink';
import type { SubLinkConfig } from './config';
import { baseMasterName, masterName } from './create';
import { requireNetns } from '../net/open-netns';

const fail = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);
const modeLabel = { macvlan: 'macvlan', ipvlan: 'IPVlan' } as const;

export async function checkSubLink(cfg: SubLinkConfig, inv: Invocation, kernel: Kernel): Promise<void> {
  requireNetns(inv.netns);
  if (cfg.ipamType !== '') await delegate('CHECK', cfg.ipamType, inv, { runner: kernel.runner });
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing');
  const ifaces = prev.interfaces ?? [];
  const contIndex = ifaces.findIndex((i) => i.name === inv.ifName && i.sandbox === inv.netns);
  const cont = ifaces[contIndex];
  if (!cont) throw fail(`Sandbox in prevResult  doesn't match configured netns: ${inv.netns}`);

  const host = kernel.rtnl();
  const ctr = kernel.rtnl(inv.netns);
  try {
    const where = cfg.linkInContainer ? ctr : host;
    // A chained ipvlan took its master from the previous plugin's result, which CHECK no longer has.
    const chained = cfg.kind === 'ipvlan' && !cfg.master;
    const name = chained ? undefined : masterName(cfg, baseMasterName(cfg, where, undefined));
    const master = name === undefined ? undefined : where.linkByName(name);
    if (name !== undefined && !master) throw fail(`failed to lookup master ${JSON.stringify(name)}: link not found`);

    const link = ctr.linkByName(inv.ifName);
    if (!link) throw fail(`Container Interface name in prevResult: ${inv.ifName} not found`);
    checkLink(cfg, link, master, cont.mac);
    checkAddresses(ctr, link.index, inv.ifName, prev.ips ?? [], contIndex);
    checkRoutes(ctr, prev.routes ?? []);
  } finally {
    ctr.close();
    host.close();
  }
}

function checkLink(cfg: SubLinkConfig, link: Link, master: Link | undefined, mac: string | undefined): void {
  if (link.kind !== cfg.kind) throw fail(`Error: Container interface ${link.name} not of type ${cfg.kind}`);
  const mode = cfg.kind === 'macvlan' ? link.macvlanMode : link.ipvlanMode;
  if (mode !== cfg.mode)
    throw fail(`Container ${modeLabel[cfg.kind]} mode ${mode ?? 'unknown'} does not match expected value: ${cfg.mode}`);
  if (mac && mac.toLowerCase() !== (link.mac ?? '').toLowerCase())
    throw fail(`Interface ${link.name} Mac ${mac} doesn't match container Mac: ${link.mac ?? ''}`);
  // Beyond the reference: the link must still hang off the configured master.
  if (master && link.parentIndex !== master.index)
    throw fail(`Container interface ${link.name} is not a ${cfg.kind} of master ${master.name}`);
}
