/**
 * What dnsname does on the network's bridge, over rtnetlink: decide whether the network is
 * internal (lib/net/internal.ts) and, on an internal network, give the bridge the gateway
 * addresses for the resolver (recorded in the network's directory first, so that a kill between
 * the two leaves nothing unrecorded), and take them away with the resolver. Loaded only when a
 * resolver starts or stops: a container joining a network whose resolver runs needs none of it.
 */
import { isValidLinkName } from '../../lib/cni/names';
import { readGatewayRecord, type GatewayRecord } from '../../lib/dns/paths';
import { bridgeIsInternal } from '../../lib/net/internal';
import { openRtnl } from '../../lib/net/rtnl';
import { available } from '../../lib/sys/libc';
import type { NetworkFacts } from './resolver';

/** Whether the network is internal; if so, the resolver's addresses are recorded (`record`) and put on the bridge. */
export function prepareBridge(dir: string, facts: NetworkFacts, record: (r: GatewayRecord) => void): boolean {
  const own = readGatewayRecord(dir);
  const ours = own?.bridge === facts.bridge ? own.addresses : [];
  const rtnl = openRtnl();
  try {
    if (!bridgeIsInternal(rtnl, facts.bridge, facts.cidrs, ours)) return false;
    // The host is not this network's gateway, so nothing on the bridge is reachable from the
    // containers: the resolver gets the gateway address.
    const link = rtnl.linkByName(facts.bridge);
    const have = new Set(link ? rtnl.addrs({ index: link.index }).map((a) => a.cidr) : []);
    record({ bridge: facts.bridge, addresses: [...new Set([...ours, ...facts.gateways])] });
    if (link)
      for (const gw of facts.gateways) if (!have.has(gw)) rtnl.addAddr(link.index, gw, { nodad: gw.includes(':') });
    return true;
  } finally {
    rtnl.close();
  }
}

/** Removes the addresses dnsname put on the bridge (its record says which). */
export function releaseBridge(dir: string): void {
  const own = readGatewayRecord(dir);
  if (!own || !isValidLinkName(own.bridge) || !available()) return;
  const rtnl = openRtnl();
  try {
    const link = rtnl.linkByName(own.bridge);
    const have = new Set(link ? rtnl.addrs({ index: link.index }).map((a) => a.cidr) : []);
    for (const a of own.addresses) if (link && have.has(a)) rtnl.deleteAddr(link.index, a);
  } finally {
    rtnl.close();
  }
}
