/**
 * Port forwarding through iptables (portmap), reference-compatible: shared chains
 * CNI-HOSTPORT-DNAT / -SETMARK / -MASQ, one CNI-DN-<hash> chain per container, entry rules in
 * CNI-HOSTPORT-DNAT commented `dnat name: "<net>" id: "<cid>"`. Per family, one read and one
 * `iptables-restore --noflush` write per verb: ADD reads the whole nat table (host-port conflicts
 * can be anywhere); CHECK reads only the chains it touches; DEL given what setup was given writes
 * without reading, and reads only the chains it touches when that fails. Rendering is pure.
 */
import { FAMILIES, familyOfText, type Family } from '../../addr/ip';
import { CniError, ErrorCode } from '../../cni/errors';
import type { Runner } from '../../exec/runner';
import { concurrently } from '../../async';
import { chainName, ruleComment } from '../names';
import { containerIdOfKey, type Attachment } from '../../cni/invocation';
import { addrText, iptArg, iptChain, iptComment, portText, protocolText } from '../text';
import type { ContainerAddress, ForwardedPorts, PortForwarding, PortForwardRequest, PortMapping } from '../types';
import { withPortForwardingLock } from '../port-lock';
import type { RestoreBatch } from '../batch';
import { brokenBy, combine, INTACT, unsure, type Finding, type RulesetSnapshot } from '../snapshot';
import { indexTable, listChains, parseSave, renderChainRemoval, restore, saveTable, type IndexedTable } from './tables';

export const DNAT_CHAIN = 'CNI-HOSTPORT-DNAT';
export const SETMARK_CHAIN = 'CNI-HOSTPORT-SETMARK';
export const MASQ_CHAIN = 'CNI-HOSTPORT-MASQ';
/** Old releases jumped from here to per-container CNI-SN-<hash> chains; only ever torn down. */
export const LEGACY_SNAT_CHAIN = 'CNI-HOSTPORT-SNAT';

/** What one family's rules are rendered from. */
export interface PortmapPlan {
  readonly networkName: string;
  readonly containerId: string;
  readonly family: Family;
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
const sameFamily = (ip: string, family: Family): boolean => isUnspecified(ip) || familyOfText(ip) === family;
export const markOf = (bit: number): string => `0x${((1 << bit) >>> 0).toString(16)}`;

/**
 * The container's entry rules in CNI-HOSTPORT-DNAT (without `-A`): one per protocol and 15 host
 * ports (multiport's limit), all ports in every family, as setup writes them and teardown deletes them.
 */
function entryRules(p: PortmapPlan): string[] {
  const dn = dnChainName(p.networkName, p.containerId);
  const comment = iptComment(`dnat ${ruleComment(p.networkName, p.containerId)}`);
  // Each condition is one argument, as each is one argv element of the reference's iptables call.
  const cond = p.conditions.map((c) => ` ${iptArg(c, 'condition')}`).join('');
  const out: string[] = [];
  for (const proto of [...new Set(p.mappings.map((m) => protocolText(m.protocol)))].sort()) {
    const ports = [...new Set(p.mappings.filter((m) => m.protocol === proto).map((m) => portText(m.hostPort)))];
    for (let i = 0; i < ports.length; i += 15)
      out.push(
        `${DNAT_CHAIN} -p ${proto} ${comment} -m multiport --destination-ports ${ports.slice(i, i + 15).join(',')}${cond} -j ${dn}`,
      );
  }
  return out;
}

/**
 * iptables-restore text removing what renderPortmapSetup made for `p`, without reading the table:
 * the exact entry rules, then the container's chain. It fails as a whole when anything differs
 * (a rule or the chain missing, an extra jump to the chain left), and teardown then reads and
 * removes what is there. The shared chains stay, as they do on the read path.
 */
export function renderPortmapTeardown(p: PortmapPlan): string {
  const dn = dnChainName(p.networkName, p.containerId);
  return ['*nat', ...entryRules(p).map((r) => `-D ${r}`), `-F ${dn}`, `-X ${dn}`, 'COMMIT', ''].join('\n');
}

/** The restore text for one container and one family. */
export function renderPortmapSetup(p: PortmapPlan, save: string): string {
  const { chains, rules } = parseSave(save);
  const dn = iptChain(dnChainName(p.networkName, p.containerId));
  const mark = markOf(p.markMasqBit);
  const setmark = iptChain(p.externalSetMarkChain ?? SETMARK_CHAIN, 'externalSetMarkChain');
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
  // By their rules, not their chains: `iptables -t nat -F` empties chains without deleting them.
  const hasRules = (c: string): boolean => rules.some((r) => r.startsWith(`-A ${c} `));
  if (ownSetmark && !hasRules(SETMARK_CHAIN))
    out.push(`-A ${SETMARK_CHAIN} ${iptComment('CNI portfwd masquerade mark')} -j MARK --set-xmark ${mark}/${mark}`);
  if (ownSetmark && !hasRules(MASQ_CHAIN)) out.push(`-A ${MASQ_CHAIN} -m mark --mark ${mark}/${mark} -j MASQUERADE`);
  if (ownSetmark && !rules.some((r) => r.startsWith('-A POSTROUTING') && r.endsWith(`-j ${MASQ_CHAIN}`))) {
    out.push(`-I POSTROUTING 1 ${iptComment('CNI portfwd requiring masquerade')} -j ${MASQ_CHAIN}`);
  }
  for (const hook of ['PREROUTING', 'OUTPUT']) {
    if (!rules.some((r) => r.startsWith(`-A ${hook} `) && r.endsWith(`-j ${DNAT_CHAIN}`)))
      out.push(`-A ${hook} -m addrtype --dst-type LOCAL -j ${DNAT_CHAIN}`);
  }
  // Our old entry rules go; new ones follow (a repeated ADD leaves no stale rule, unlike the reference).
  for (const r of rules) if (r.startsWith(`-A ${DNAT_CHAIN} `) && r.endsWith(`-j ${dn}`)) out.push(`-D${r.slice(2)}`);
  for (const r of entryRules(p)) out.push(`-A ${r}`);
  const ip = addrText(p.containerIP, 'container address');
  const src = p.masqAll
    ? p.family === 6
      ? '::/0'
      : '0.0.0.0/0'
    : addrText(`${p.containerIP}/${p.prefix}`, 'container address');
  const target = p.family === 6 ? `[${ip}]` : ip;
  for (const m of p.mappings) {
    if (!sameFamily(m.hostIP, p.family)) continue;
    const proto = protocolText(m.protocol);
    const dest = isUnspecified(m.hostIP) ? '' : ` -d ${addrText(m.hostIP, 'host IP')}`;
    const match = `-p ${proto} -m ${proto} --dport ${portText(m.hostPort)}${dest}`;
    if (p.snat) {
      out.push(`-A ${dn} -s ${src} ${match} -j ${setmark}`);
      if (p.family === 4 && !p.masqAll) out.push(`-A ${dn} -s 127.0.0.1 ${match} -j ${setmark}`);
    }
    out.push(`-A ${dn} ${match} -j DNAT --to-destination ${target}:${portText(m.containerPort)}`);
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
  return mappingsInRules(parseSave(save).rules.filter((r) => r.startsWith(`-A ${chain} `)));
}

/** The mappings that DNAT rules stand for. */
function mappingsInRules(rules: readonly string[]): PortMapping[] {
  const out: PortMapping[] = [];
  for (const r of rules) {
    if (!r.includes('-j DNAT')) continue;
    const proto = / -p (\w+)/.exec(r)?.[1];
    const hostPort = Number(/ --dport (\d+)/.exec(r)?.[1] ?? 0);
    const containerPort = Number(/--to-destination \S*:(\d+)/.exec(r)?.[1] ?? 0);
    const d = / -d (\S+?)(\/(32|128))? /.exec(r + ' ');
    if (proto === 'tcp' || proto === 'udp' || proto === 'sctp')
      out.push({ hostPort, containerPort, protocol: proto, hostIP: d?.[1] ?? '' });
  }
  return out;
}

/** The plan of one family of a request. */
export function planOf(req: PortForwardRequest, c: ContainerAddress): PortmapPlan {
  return {
    networkName: req.attachment.networkName,
    containerId: req.attachment.containerId,
    family: c.family,
    containerIP: c.address,
    prefix: c.prefix,
    mappings: req.mappings,
    snat: req.snat,
    masqAll: req.masqAll,
    markMasqBit: req.markMasqBit,
    externalSetMarkChain: req.externalSetMarkChain,
    conditions: c.family === 6 ? req.conditionsV6 : req.conditionsV4,
  };
}

/** Throws when another container already forwards one of these host ports. */
function checkConflicts(plan: PortmapPlan, current: string): void {
  const taken = existingHostPorts(current, dnChainName(plan.networkName, plan.containerId));
  for (const m of plan.mappings) {
    if (!sameFamily(m.hostIP, plan.family)) continue;
    const clash = taken.find(
      (t) =>
        t.proto === m.protocol &&
        t.port === m.hostPort &&
        (isUnspecified(t.hostIP) || isUnspecified(m.hostIP) || t.hostIP === m.hostIP),
    );
    if (clash) {
      const where = isUnspecified(m.hostIP) ? '' : `${m.hostIP}:`;
      throw new CniError(
        ErrorCode.Internal,
        `host port ${where}${m.hostPort}/${m.protocol} is already forwarded to another container`,
        `by chain ${clash.chain}`,
      );
    }
  }
}

/** The chains check lists for one family. */
function chainsOfCheck(plan: PortmapPlan): string[] {
  const dn = dnChainName(plan.networkName, plan.containerId);
  const ownSetmark = plan.snat && !plan.externalSetMarkChain;
  return [DNAT_CHAIN, dn, 'PREROUTING', 'OUTPUT', ...(ownSetmark ? ['POSTROUTING', SETMARK_CHAIN, MASQ_CHAIN] : [])];
}

/** What one family of port forwarding lacks in its nat table (or those of its chains check lists); undefined when nothing. */
export function portmapProblem(plan: PortmapPlan, nat: IndexedTable): CniError | undefined {
  const dn = dnChainName(plan.networkName, plan.containerId);
  const ownSetmark = plan.snat && !plan.externalSetMarkChain;
  const missing = (what: string): CniError =>
    new CniError(ErrorCode.Internal, `${what} not found in ${plan.family === 6 ? 'ip6tables' : 'iptables'} table nat`);
  if (!nat.chains.has(dn)) return missing(`chain ${dn}`);
  const jumps = (from: string, to: string): boolean => nat.rulesOf(from).some((r) => r.endsWith(`-j ${to}`));
  if (!jumps(DNAT_CHAIN, dn))
    return new CniError(ErrorCode.Internal, `rule jumping to ${dn} not found in chain ${DNAT_CHAIN}`);
  for (const hook of ['PREROUTING', 'OUTPUT'])
    if (!jumps(hook, DNAT_CHAIN)) return missing(`rule jumping from ${hook} to ${DNAT_CHAIN}`);
  if (ownSetmark) {
    if (!jumps('POSTROUTING', MASQ_CHAIN)) return missing(`rule jumping from POSTROUTING to ${MASQ_CHAIN}`);
    for (const ch of [SETMARK_CHAIN, MASQ_CHAIN])
      if (nat.rulesOf(ch).length === 0) return missing(`rule of chain ${ch}`);
  }
  const have = mappingsInRules(nat.rulesOf(dn));
  for (const m of plan.mappings) {
    if (!sameFamily(m.hostIP, plan.family)) continue;
    const found = have.some(
      (h) =>
        h.protocol === m.protocol &&
        h.hostPort === m.hostPort &&
        h.containerPort === m.containerPort &&
        (isUnspecified(m.hostIP) ? h.hostIP === '' : h.hostIP === m.hostIP),
    );
    if (!found)
      return new CniError(
        ErrorCode.Internal,
        `rule for ${m.protocol} port ${m.hostPort} in chain ${dn} not found in table nat`,
      );
  }
  return undefined;
}

export class IptablesPortForwarding implements PortForwarding {
  constructor(private readonly runner: Runner) {}

  async setup(req: PortForwardRequest): Promise<void> {
    // One restore per family; the families are independent. Read and write under the lock, so
    // a concurrent ADD cannot take the same port or empty the shared chains meanwhile.
    await withPortForwardingLock(() =>
      concurrently(
        ...req.containers.map(async (c) => {
          const plan = planOf(req, c);
          const current = await saveTable(this.runner, plan.family, 'nat');
          checkConflicts(plan, current);
          await restore(this.runner, plan.family, renderPortmapSetup(plan, current));
        }),
      ),
    );
  }

  /** setup rendered from the batch's model of each nat table (the caller holds the port-forwarding lock). */
  async stage(batch: RestoreBatch, req: PortForwardRequest): Promise<void> {
    await batch.iptables(
      req.containers.map((c) => {
        const plan = planOf(req, c);
        return {
          family: plan.family,
          table: 'nat' as const,
          render: (current: string) => {
            checkConflicts(plan, current);
            return renderPortmapSetup(plan, current);
          },
        };
      }),
    );
  }

  async teardown(a: Attachment, expected?: PortForwardRequest): Promise<ForwardedPorts> {
    const [v4, v6] = await concurrently(this.teardownExpected(a, 4, expected), this.teardownExpected(a, 6, expected));
    const out = new Map<Family, readonly PortMapping[]>();
    if (v4) out.set(4, v4);
    if (v6) out.set(6, v6);
    return out;
  }

  /**
   * With what setup was given (DEL's prevResult and portMappings), a family without a container
   * address has nothing forwarded, and the rules of one with an address go in one restore
   * without a read; when that restore fails (something differs), the read path below runs.
   */
  private async teardownExpected(
    a: Attachment,
    family: Family,
    expected: PortForwardRequest | undefined,
  ): Promise<PortMapping[] | undefined> {
    if (!expected) return this.teardownFamily(a, family);
    const c = expected.containers.find((x) => x.family === family);
    if (!c) return undefined;
    const plan = planOf(expected, c);
    const removed = await restore(this.runner, family, renderPortmapTeardown(plan)).then(
      () => true,
      () => false,
    );
    if (removed) return plan.mappings.filter((m) => sameFamily(m.hostIP, family));
    return this.teardownFamily(a, family);
  }

  /**
   * Removes the container's chains (DN and legacy SN) and their jumps; returns the mappings it had,
   * or undefined when this family has no DN chain for the container (nothing was forwarded).
   */
  private async teardownFamily(a: Attachment, family: Family): Promise<PortMapping[] | undefined> {
    const dn = dnChainName(a.networkName, a.containerId);
    const sn = chainName(a.networkName, a.containerId, 'SN-');
    // The container's own chain and the legacy SNAT chain first: a family with neither (the other
    // family of a single-stack container, a second DEL) costs one round of reads. A legacy SN
    // chain exists only with its jump from CNI-HOSTPORT-SNAT, so the jump stands for the chain.
    const first = await listChains(this.runner, family, 'nat', [dn, LEGACY_SNAT_CHAIN]);
    const hasSn = first.split('\n').some((l) => l.endsWith(`-j ${sn}`));
    if (!hasSn && !first.split('\n').some((l) => l.startsWith(`:${dn} `))) return undefined;
    let current = `${first}\n${await listChains(this.runner, family, 'nat', [DNAT_CHAIN])}`;
    if (hasSn) current += `\n:${sn} - [0:0]`;
    const had = mappingsInChain(current, dn);
    await restore(this.runner, family, renderChainRemoval('nat', current, new Set([dn, sn])));
    return had;
  }

  /**
   * Every expected DNAT rule and the entry jump are present, and so is the shared plumbing that
   * makes them work: the jumps from PREROUTING and OUTPUT and, with SNAT, the mark and masquerade
   * rules (a flush empties those too).
   */
  async check(req: PortForwardRequest): Promise<void> {
    for (const c of req.containers) {
      const plan = planOf(req, c);
      const current = await listChains(this.runner, plan.family, 'nat', chainsOfCheck(plan));
      const problem = portmapProblem(plan, indexTable(current));
      if (problem) throw problem;
    }
  }

  /** check's judgement on the pass's nat tables. */
  async inspect(req: PortForwardRequest, snap: RulesetSnapshot): Promise<Finding> {
    const findings: Finding[] = [];
    for (const c of req.containers) {
      const plan = planOf(req, c);
      const nat = await snap.iptables(plan.family, 'nat');
      if (!nat) {
        findings.push(unsure(`${plan.family === 6 ? 'ip6' : 'ip'}tables-save failed`));
        continue;
      }
      const problem = portmapProblem(plan, nat);
      findings.push(problem ? brokenBy(problem) : INTACT);
    }
    return combine(findings);
  }

  /** Chains of this network whose container ID is not kept (rules carry no ifname). */
  async gc(networkName: string, keep: ReadonlySet<string>): Promise<void> {
    const keptIds = new Set([...keep].map(containerIdOfKey));
    for (const family of FAMILIES) {
      const current = await saveTable(this.runner, family, 'nat');
      const stale = new Set<string>();
      const re = /--comment "dnat name: \\"([^"\\]*)\\" id: \\"([^"\\]*)\\"".* -j (CNI-DN-[0-9a-f]+)\s*$/;
      for (const r of parseSave(current).rules) {
        const m = re.exec(r);
        if (
          m?.[2] !== undefined &&
          m[3] &&
          m[1] === networkName &&
          !keptIds.has(m[2]) &&
          m[3] === dnChainName(networkName, m[2])
        )
          stale.add(m[3]);
      }
      if (stale.size) await restore(this.runner, family, renderChainRemoval('nat', current, stale));
    }
  }
}
