/**
 * The iptables backend of portmap: per family, one `iptables-save -t nat` read and one
 * `iptables-restore --noflush` write per verb.
 */
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { defaultRunner } from '../../lib/exec/real';
import { renderIptablesTeardown } from '../../lib/nat/masq';
import { chainName } from '../../lib/nat/names';
import { dnChainName, existingHostPorts, mappingsInChain, parseSave, renderPortmapSetup, DNAT_CHAIN, type PortMapping, type PortmapPlan } from '../../lib/nat/portmap-iptables';

export async function save(six: boolean): Promise<string> {
  const r = await defaultRunner().run({ tool: six ? 'ip6tables-save' : 'iptables-save', argv: ['-t', 'nat'], allowFailure: true });
  return r.exitCode === 0 ? r.stdout : '';
}
export async function restore(six: boolean, text: string): Promise<void> {
  if (text) await defaultRunner().run({ tool: six ? 'ip6tables-restore' : 'iptables-restore', argv: ['--noflush', '-w', '10'], input: text });
}

const unspecified = (ip: string): boolean => ip === '' || ip === '0.0.0.0' || ip === '::';

/** Throws when another container already forwards one of these host ports. */
function checkConflicts(plan: PortmapPlan, current: string): void {
  const taken = existingHostPorts(current, dnChainName(plan.networkName, plan.containerId));
  for (const m of plan.mappings) {
    if (!unspecified(m.hostIP) && m.hostIP.includes(':') !== plan.six) continue;
    const clash = taken.find((t) => t.proto === m.protocol && t.port === m.hostPort && (unspecified(t.hostIP) || unspecified(m.hostIP) || t.hostIP === m.hostIP));
    if (clash) {
      const where = unspecified(m.hostIP) ? '' : `${m.hostIP}:`;
      throw new CniError(ErrorCode.Internal, `host port ${where}${m.hostPort}/${m.protocol} is already forwarded to another container`, `by chain ${clash.chain}`);
    }
  }
}

export async function setupIptables(plan: PortmapPlan): Promise<void> {
  const current = await save(plan.six);
  checkConflicts(plan, current);
  await restore(plan.six, renderPortmapSetup(plan, current));
}

/** Removes the container's chains (DN and legacy SN) and their jumps; returns the mappings it had. */
export async function teardownIptables(networkName: string, containerId: string, six: boolean): Promise<PortMapping[]> {
  const current = await save(six);
  const dn = dnChainName(networkName, containerId);
  const had = mappingsInChain(current, dn);
  await restore(six, renderIptablesTeardown(current, new Set([dn, chainName(networkName, containerId, 'SN-')])));
  return had;
}

/** Every expected DNAT rule and the entry jump are present. */
export async function checkIptables(plan: PortmapPlan): Promise<void> {
  const current = await save(plan.six);
  const dn = dnChainName(plan.networkName, plan.containerId);
  const { chains, rules } = parseSave(current);
  if (!chains.has(dn)) throw new CniError(ErrorCode.Internal, `chain ${dn} not found in iptables table nat`);
  if (!rules.some((r) => r.startsWith(`-A ${DNAT_CHAIN} `) && r.endsWith(`-j ${dn}`))) throw new CniError(ErrorCode.Internal, `rule jumping to ${dn} not found in chain ${DNAT_CHAIN}`);
  const have = mappingsInChain(current, dn);
  for (const m of plan.mappings) {
    if (!unspecified(m.hostIP) && m.hostIP.includes(':') !== plan.six) continue;
    if (!have.some((h) => h.protocol === m.protocol && h.hostPort === m.hostPort && h.containerPort === m.containerPort && (unspecified(m.hostIP) ? h.hostIP === '' : h.hostIP === m.hostIP))) {
      throw new CniError(ErrorCode.Internal, `rule for ${m.protocol} port ${m.hostPort} in chain ${dn} not found in table nat`);
    }
  }
}

/** GC: chains of this network whose container ID is not kept. */
export async function gcIptables(networkName: string, keptIds: ReadonlySet<string>, six: boolean): Promise<void> {
  const current = await save(six);
  const stale = new Set<string>();
  const re = /--comment "dnat name: \\"([^"\\]*)\\" id: \\"([^"\\]*)\\"".* -j (CNI-DN-[0-9a-f]+)\s*$/;
  for (const r of parseSave(current).rules) {
    const m = re.exec(r);
    if (m?.[2] !== undefined && m[3] && m[1] === networkName && !keptIds.has(m[2]) && m[3] === dnChainName(networkName, m[2])) stale.add(m[3]);
  }
  if (stale.size) await restore(six, renderIptablesTeardown(current, stale));
}
