/** What the firewall plugin takes from prevResult: the addresses to accept, the bridge, the host veth. */
import { isValidLinkName } from '../../lib/cni/names';
import { ConfigError } from '../../lib/cni/errors';
import type { Result } from '../../lib/cni/result/types';
import { formatIP, parseCIDR, FAMILIES, familyOfText, type Family } from '../../lib/addr/ip';
import type { FirewallConfig } from './config';

export interface Facts {
  /** Every address of prevResult (as the reference takes them), canonical and without prefix. */
  readonly ips: string[];
  /** The bridge to isolate: prevResult's first interface, with `ingressPolicy: same-bridge`. */
  readonly bridge: string | undefined;
  readonly hostVeth: string | undefined;
}

/** Link names that go into iptables rules and nft elements: no quotes, no spaces, no option-like start. */
const RULE_LINK_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,14}$/;
export const isRuleLinkName = (s: string): boolean => RULE_LINK_RE.test(s);

export const familiesOf = (ips: readonly string[]): Family[] =>
  FAMILIES.filter((f) => ips.some((ip) => familyOfText(ip) === f));

export function factsOf(prev: Result, cfg: FirewallConfig): Facts {
  const ips: string[] = [];
  for (const ip of prev.ips ?? []) {
    const c = parseCIDR(ip.address);
    if (!c) throw new ConfigError('could not parse prevResult', `invalid address ${JSON.stringify(ip.address)}`);
    const a = formatIP(c.addr);
    if (!ips.includes(a)) ips.push(a);
  }
  const ifaces = prev.interfaces ?? [];
  let bridge: string | undefined;
  if (cfg.ingressPolicy === 'same-bridge') {
    const first = ifaces[0];
    if (!first)
      throw new ConfigError(
        'interface needs to be set for ingress policy "same-bridge", make sure to chain "firewall" plugin with "bridge"',
      );
    if (!first.name) throw new ConfigError('got empty bridge name');
    if (!RULE_LINK_RE.test(first.name))
      throw new ConfigError(`invalid bridge name ${JSON.stringify(first.name)} in prevResult`);
    bridge = first.name;
  }
  const veth = ifaces.find((i, idx) => idx > 0 && !i.sandbox)?.name;
  return { ips, bridge, hostVeth: veth && isValidLinkName(veth) ? veth : undefined };
}
