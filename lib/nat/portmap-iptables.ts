/**
 * portmap's iptables rules, reference-compatible (plugins/meta/portmap/portmap_iptables.go):
 * shared chains CNI-HOSTPORT-DNAT / -SETMARK / -MASQ, one CNI-DN-<hash> chain per container,
 * entry rules in CNI-HOSTPORT-DNAT commented `dnat name: "<net>" id: "<cid>"`. Rendering is pure
 * (text for iptables-restore); the caller reads `iptables-save -t nat` once and applies once.
 */
import { chainName, ruleComment } from './names';

export const DNAT_CHAIN = 'CNI-HOSTPORT-DNAT';
export const SETMARK_CHAIN = 'CNI-HOSTPORT-SETMARK';
export const MASQ_CHAIN = 'CNI-HOSTPORT-MASQ';
/** Old releases jumped from here to per-container CNI-SN-<hash> chains; only ever torn down. */
export const LEGACY_SNAT_CHAIN = 'CNI-HOSTPORT-SNAT';

export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  /** '' when unspecified (any local address of the family). */
  readonly hostIP: string;
}

export interface PortmapPlan {
  readonly networkName: string;
  readonly containerId: string;
  readonly six: boolean;
  /** Container address and prefix length, e.g. 10.0.0.2 and 24. */
  readonly containerIP: string;
  readonly prefix: number;
  readonly mappings: readonly PortMapping[];
  readonly snat: boolean;
  readonly masqAll: boolean;
  readonly markMasqBit: number;
  readonly externalSetMarkChain: string | undefined;
  readonly conditions: readonly string[];
}

export const dnChainName = (net: string, id: string): string => chainName(net, id, 'DN-');
const isUnspecified = (ip: string): boolean => ip === '' || ip === '0.0.0.0' || ip === '::';
const sameFamily = (ip: string, six: boolean): boolean => isUnspecified(ip) || ip.includes(':') === six;
export const markOf = (bit: number): string => `0x${((1 << bit) >>> 0).toString(16)}`;

/** Lines of `iptables-save -t nat` split into chain declarations and rules. */
export function parseSave(save: string): { chains: Set<string>; rules: string[] } {
  const chains = new Set<string>();
  const rules: string[] = [];
  for (const line of save.split('\n')) {
    const d = /^:(\S+) /.exec(line);
    if (d?.[1]) chains.add(d[1]);
    else if (line.startsWith('-A ')) rules.push(line);
  }
  return { chains, rules };
}

/** The restore text for one container and one family. */
export function renderPortmapSetup(p: PortmapPlan, save: string): string {
  const { chains, rules } = parseSave(save);
  const dn = dnChainName(p.networkName, p.containerId);
  const mark = markOf(p.markMasqBit);
  const setmark = p.externalSetMarkChain ?? SETMARK_CHAIN;
  const out = ['*nat'];
  const declare = (c: string): void => {
    if (!chains.has(c)) out.push(`:${c} - [0:0]`);
  };
  declare(DNAT_CHAIN);
  const ownSetmark = p.snat && !p.externalSetMarkChain;
  if (ownSetmark) {
    declare(SETMARK_CHAIN);
    declare(MASQ_CHAIN);
  }
  out.push(`:${dn} - [0:0]`); // declared even when present: iptables-restore --noflush flushes it
  if (ownSetmark && !chains.has(SETMARK_CHAIN))
    out.push(
      `-A ${SETMARK_CHAIN} -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark ${mark}/${mark}`,
    );
  if (ownSetmark && !chains.has(MASQ_CHAIN)) out.push(`-A ${MASQ_CHAIN} -m mark --mark ${mark}/${mark} -j MASQUERADE`);
  if (ownSetmark && !rules.some((r) => r.startsWith('-A POSTROUTING') && r.endsWith(`-j ${MASQ_CHAIN}`))) {
    out.push(`-I POSTROUTING 1 -m comment --comment "CNI portfwd requiring masquerade" -j ${MASQ_CHAIN}`);
  }
  for (const hook of ['PREROUTING', 'OUTPUT']) {
    if (!rules.some((r) => r.startsWith(`-A ${hook} `) && r.endsWith(`-j ${DNAT_CHAIN}`)))
      out.push(`-A ${hook} -m addrtype --dst-type LOCAL -j ${DNAT_CHAIN}`);
  }
  // Our old entry rules go; new ones follow (a repeated ADD leaves no stale rule, unlike the reference).
  for (const r of rules) if (r.startsWith(`-A ${DNAT_CHAIN} `) && r.endsWith(`-j ${dn}`)) out.push(`-D${r.slice(2)}`);
  const comment = JSON.stringify(`dnat ${ruleComment(p.networkName, p.containerId)}`);
  const cond = p.conditions.length ? ` ${p.conditions.join(' ')}` : '';
  for (const proto of [...new Set(p.mappings.map((m) => m.protocol))].sort()) {
    const ports = [...new Set(p.mappings.filter((m) => m.protocol === proto).map((m) => m.hostPort))];
    for (let i = 0; i < ports.length; i += 15) {
      out.push(
        `-A ${DNAT_CHAIN} -p ${proto} -m comment --comment ${comment} -m multiport --destination-ports ${ports.slice(i, i + 15).join(',')}${cond} -j ${dn}`,
      );
    }
  }
  const src = p.masqAll ? (p.six ? '::/0' : '0.0.0.0/0') : `${p.containerIP}/${p.prefix}`;
  const target = p.six ? `[${p.containerIP}]` : p.containerIP;
  for (const m of p.mappings) {
    if (!sameFamily(m.hostIP, p.six)) continue;
    const match = `-p ${m.protocol} -m ${m.protocol} --dport ${m.hostPort}${isUnspecified(m.hostIP) ? '' : ` -d ${m.hostIP}`}`;
    if (p.snat) {
      out.push(`-A ${dn} -s ${src} ${match} -j ${setmark}`);
      if (!p.six && !p.masqAll) out.push(`-A ${dn} -s 127.0.0.1 ${match} -j ${setmark}`);
    }
    out.push(`-A ${dn} ${match} -j DNAT --to-destination ${target}:${m.containerPort}`);
  }
  out.push('COMMIT', '');
  return out.join('\n');
}

/** DNAT targets in other containers' DN chains: `<proto>/<port>` → hostIP ('' = any) and chain. */
export function existingHostPorts(
  save: string,
  exceptChain: string,
): Array<{ proto: string; port: number; hostIP: string; chain: string }> {
  const found: Array<{ proto: string; port: number; hostIP: string; chain: string }> = [];
  for (const r of parseSave(save).rules) {
    const m = /^-A (CNI-DN-[0-9a-f]+) (.*)-j DNAT/.exec(r);
    if (!m?.[1] || m[1] === exceptChain) continue;
    const proto = / -p (\w+)/.exec(r)?.[1] ?? '';
    const port = Number(/ --dport (\d+)/.exec(r)?.[1] ?? 0);
    const d = / -d (\S+?)(\/(32|128))? /.exec(r + ' ');
    found.push({ proto, port, hostIP: d?.[1] ?? '', chain: m[1] });
  }
  return found;
}

/** The mappings our chain currently DNATs (used when DEL is not given portMappings). */
export function mappingsInChain(save: string, chain: string): PortMapping[] {
  const out: PortMapping[] = [];
  for (const r of parseSave(save).rules) {
    if (!r.startsWith(`-A ${chain} `) || !r.includes('-j DNAT')) continue;
    const proto = / -p (\w+)/.exec(r)?.[1];
    const hostPort = Number(/ --dport (\d+)/.exec(r)?.[1] ?? 0);
    const containerPort = Number(/--to-destination \S*:(\d+)/.exec(r)?.[1] ?? 0);
    const d = / -d (\S+?)(\/(32|128))? /.exec(r + ' ');
    if (proto === 'tcp' || proto === 'udp' || proto === 'sctp')
      out.push({ hostPort, containerPort, protocol: proto, hostIP: d?.[1] ?? '' });
  }
  return out;
}
