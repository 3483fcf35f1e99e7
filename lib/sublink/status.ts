/**
 * macvlan/ipvlan STATUS: netlink answers, the configured master (or, for a VLAN sub-interface we
 * would create, its parent) exists on the host, and IPAM is ready. An ADD that could not find
 * its master would fail, so STATUS says so first (code 50).
 */
import { delegate } from '../cni/delegate';
import type { Invocation } from '../cni/invocation';
import { CniError, ErrorCode } from '../cni/errors';
import { defaultRouteLinkName } from '../net/master';
import type { Kernel } from '../net/kernel';
import { parseVlanName } from '../net/vlan';
import type { Rtnl } from '../netlink';
import type { SubLinkConfig } from './config';
import { masterName } from './create';

function masterReady(cfg: SubLinkConfig, host: Rtnl): string | undefined {
  let base = cfg.master;
  if (!base) {
    if (cfg.kind === 'ipvlan') return undefined; // may come from a chained prevResult
    try {
      base = defaultRouteLinkName(host);
    } catch (e) {
      return (e as Error).message;
    }
  }
  const name = masterName(cfg, base);
  if (host.linkByName(name)) return undefined;
  const parent = cfg.vlan ? base : parseVlanName(name)?.parent;
  if (parent && host.linkByName(parent)) return undefined;
  return `master ${JSON.stringify(name)} does not exist${parent ? `, nor its VLAN parent ${JSON.stringify(parent)}` : ''}`;
}

export async function statusSubLink(cfg: SubLinkConfig, inv: Invocation, kernel: Kernel): Promise<void> {
  let problem: string | undefined;
  try {
    const host = kernel.rtnl();
    try {
      if (!cfg.linkInContainer) problem = masterReady(cfg, host);
    } finally {
      host.close();
    }
  } catch (e) {
    throw new CniError(ErrorCode.NotAvailable, 'netlink is not usable', (e as Error).message);
  }
  if (problem) throw new CniError(ErrorCode.NotAvailable, `${cfg.kind} is not ready`, problem);
  if (cfg.ipamType !== '') await delegate('STATUS', cfg.ipamType, inv, { runner: kernel.runner });
}
