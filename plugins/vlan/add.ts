/**
 * vlan ADD: the master's MTU bounds `mtu` → the 802.1Q link of the master, born in the
 * container's namespace under its final name (IFLA_NET_NS_FD; with `linkInContainer` the master
 * is there already and the link is made in place) → IPAM → addresses, up, routes. Every step
 * registers its undo first: a failure leaves no link and no lease (the reference leaks both when
 * IPAM or the addresses fail).
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ConfigError, ErrorCode } from '../../lib/cni/errors';
import type { Result } from '../../lib/cni/result/types';
import { ipamAdd } from '../../lib/link-plugin/ipam';
import { deleteLinkNamed } from '../../lib/net/container-link';
import { configureL3 } from '../../lib/net/interface';
import type { Kernel } from '../../lib/net/kernel';
import { creationError } from '../../lib/net/link-kind';
import { requireNetns } from '../../lib/net/open-netns';
import { isErrno, type Link, type Rtnl } from '../../lib/netlink';
import { withNetnsFd } from '../../lib/sys/netns';
import { UndoStack } from '../../lib/undo';
import { loadVlanConfig, requireIpam, type VlanConfig } from './config';

/** The master, in the host's namespace or (linkInContainer) the container's. */
export function lookupMaster(cfg: VlanConfig, host: Rtnl, ctr: Rtnl): Link {
  const master = (cfg.linkInContainer ? ctr : host).linkByName(cfg.master);
  if (!master)
    throw new CniError(
      ErrorCode.Internal,
      `failed to lookup master ${JSON.stringify(cfg.master)}${cfg.linkInContainer ? " in the container's namespace" : ''}: link not found`,
    );
  return master;
}

function createVlanLink(cfg: VlanConfig, inv: Invocation, host: Rtnl, ctr: Rtnl, master: Link): void {
  const spec = {
    name: inv.ifName,
    parentIndex: master.index,
    id: cfg.vlanId,
    mtu: cfg.mtu > 0 ? cfg.mtu : undefined,
  };
  try {
    if (cfg.linkInContainer) ctr.createVlan(spec);
    else withNetnsFd(inv.netns, (netnsFd) => host.createVlan({ ...spec, netnsFd }));
  } catch (e) {
    // EEXIST is either the name in the container or the VLAN ID on the master (one link per ID).
    if (isErrno(e, 'EEXIST'))
      throw new CniError(
        ErrorCode.Internal,
        ctr.linkByName(inv.ifName)
          ? `failed to create vlan: interface ${JSON.stringify(inv.ifName)} already exists in the container`
          : `failed to create vlan: VLAN ${cfg.vlanId} of ${cfg.master} is in use by another link`,
        e.message,
      );
    throw creationError('vlan', 'failed to create vlan', e);
  }
}

export async function add(inv: Invocation, kernel: Kernel): Promise<Result> {
  const cfg = loadVlanConfig(inv);
  requireNetns(inv.netns);
  const ipamType = requireIpam(cfg);
  const undo = new UndoStack();
  const host = kernel.rtnl();
  const ctr = kernel.rtnl(inv.netns);
  try {
    return await undo.guard(async () => {
      const master = lookupMaster(cfg, host, ctr);
      if (cfg.mtu > master.mtu) throw new ConfigError(`invalid MTU ${cfg.mtu}, must be [0, master MTU(${master.mtu})]`);
      createVlanLink(cfg, inv, host, ctr, master);
      undo.push(`delete vlan ${inv.ifName}`, () => deleteLinkNamed(ctr, inv.ifName));
      const link = ctr.linkByName(inv.ifName);
      if (!link)
        throw new CniError(ErrorCode.Internal, `failed to refetch vlan ${JSON.stringify(inv.ifName)}: link not found`);

      const { ips, routes } = await ipamAdd(undo, inv, kernel, ipamType);
      await configureL3(kernel, ctr, inv.netns, inv.ifName, ips, routes);
      const result: Result = {
        cniVersion: inv.cniVersion,
        interfaces: [{ name: inv.ifName, mac: link.mac ?? '', sandbox: inv.netns }],
        ips,
      };
      if (routes.length) result.routes = routes;
      // The config's DNS, as the reference (IPAM's is not passed on).
      if (cfg.dns) result.dns = cfg.dns;
      return result;
    });
  } finally {
    ctr.close();
    host.close();
  }
}
