/** What the firewall plugin takes from prevResult: the addresses to accept, the bridge, the host veth. */
import { isValidLinkName } from '../../lib/cni/names';
import { ConfigError } from '../../lib/cni/errors';
import type { Result } from '../../lib/cni/result/types';
import { formatIP, parseCIDR, FAMILIES, familyOfText, type Family } from '../../lib/addr/ip';
import type { FirewallConfig } from './config';

export interface Facts {
  /** Every address of prevResult (as the reference takes them), canonical and without prefix. */
  readonly ips: string[];
  /** The same addresses with their prefixes (the containers' subnets). */
  readonly cidrs: string[];
  /** The bridge to isolate: prevResult's first interface, with `ingressPolicy: same-bridge` or `isolated`. */
  readonly bridge: string | undefined;
  /** prevResult's first interface when it is a usable link name (the bridge an internal network is on). */
  readonly firstIface: string | undefined;
  /** False with `ingressPolicy: isolated`: containers of the bridge may not reach each other. */
  readonly icc: boolean;
  readonly hostVeth: string | undefined;
}

/** What a bridge is guarded by, as a record or the facts of an ADD carry it. */
export interface GuardFlags {
  readonly bridge: string | undefined;
  /** Isolated from other isolated bridges (absent in older records: true when `bridge` is set). */
  readonly crossBridge?: boolean;
  readonly icc?: boolean;
  readonly internal?: boolean;
}

/** The bridge rules a record or ADD stands for. */
export function guardsOf(g: GuardFlags): { isolate: string[]; noIcc: string[]; internal: string[] } {
  const br = g.bridge;
  return {
    isolate: br && g.crossBridge !== false ? [br] : [],
    noIcc: br && g.icc === false ? [br] : [],
    internal: br && g.internal ? [br] : [],
  };
}

/** Link names that go into iptables rules and nft elements: no quotes, no spaces, no option-like start. */
const RULE_LINK_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,14}$/;
export const isRuleLinkName = (s: string): boolean => RULE_LINK_RE.test(s);

export const familiesOf = (ips: readonly string[]): Family[] =>
  FAMILIES.filter((f) => ips.some((ip) => familyOfText(ip) === f));

export function factsOf(prev: Result, cfg: FirewallConfig): Facts {
  const ips: string[] = [];
  const cidrs: string[] = [];
  for (const ip of prev.ips ?? []) {
    const c = parseCIDR(ip.address);
    if (!c) throw new ConfigError('could not parse prevResult', `invalid address ${JSON.stringify(ip.address)}`);
    const a = formatIP(c.addr);
    if (!ips.includes(a)) {
      ips.push(a);
      cidrs.push(`${a}/${c.prefix}`);
    }
  }
  const ifaces = prev.interfaces ?? [];
  let bridge: string | undefined;
  if (cfg.ingressPolicy !== 'open' || cfg.internal === true) {
    const first = ifaces[0];
    const why = cfg.ingressPolicy !== 'open' ? `ingress policy "${cfg.ingressPolicy}"` : 'an internal network';
    if (!first)
      throw new ConfigError(`interface needs to be set for ${why}, make sure to chain "firewall" plugin with "bridge"`);
    if (!first.name) throw new ConfigError('got empty bridge name');
    if (!RULE_LINK_RE.test(first.name))
      throw new ConfigError(`invalid bridge name ${JSON.stringify(first.name)} in prevResult`);
    bridge = first.name;
  }
  if (cfg.ingressPolicy === 'open') bridge = undefined;
  const first = ifaces[0]?.name;
  const firstIface = bridge ?? (first && RULE_LINK_RE.test(first) && !ifaces[0]?.sandbox ? first : undefined);
  const veth = ifaces.find((i, idx) => idx > 0 && !i.sandbox)?.name;
  return {
    ips,
    cidrs,
    bridge,
    firstIface,
    icc: cfg.ingressPolicy !== 'isolated',
    hostVeth: veth && isValidLinkName(veth) ? veth : undefined,
  };
}
