/**
 * The iptables backend of portmap: per family, one read and one `iptables-restore --noflush`
 * write per verb. ADD reads the whole nat table (host-port conflicts can be anywhere); DEL and
 * CHECK read only the chains they touch.
 */
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { listNatChains, restoreNat, saveNat } from '../../lib/nat/iptables';
import { renderIptablesTeardown } from '../../lib/nat/masq';
import { chainName } from '../../lib/nat/names';
import {
  dnChainName,
  existingHostPorts,
  mappingsInChain,
  parseSave,
  renderPortmapSetup,
  DNAT_CHAIN,
  LEGACY_SNAT_CHAIN,
  type PortMapping,
  type PortmapPlan,
} from '../../lib/nat/portmap-iptables';

const unspecified = (ip: string): boolean => ip === '' || ip === '0.0.0.0' || ip === '::';

/** Throws when another container already forwards one of these host ports. */
function checkConflicts(plan: PortmapPlan, current: string): void {
  const taken = existingHostPorts(current, dnChainName(plan.networkName, plan.containerId));
  for (const m of plan.mappings) {
    if (!unspecified(m.hostIP) && m.hostIP.includes(':') !== plan.six) continue;
    const clash = taken.find(
      (t) =>
        t.proto === m.protocol &&
        t.port === m.hostPort &&
        (unspecified(t.hostIP) || unspecified(m.hostIP) || t.hostIP === m.hostIP),
    );
    if (clash) {
      const where = unspecified(m.hostIP) ? '' : `${m.hostIP}:`;
      throw new CniError(
        ErrorCode.Internal,
        `host port ${where}${m.hostPort}/${m.protocol} is already forwarded to another container`,
        `by chain ${clash.chain}`,
      );
    }
  }
}

export async function setupIptables(plan: PortmapPlan): Promise<void> {
  const current = await saveNat(plan.six);
  checkConflicts(plan, current);
  await restoreNat(plan.six, renderPortmapSetup(plan, current));
}

/**
 * Removes the container's chains (DN and legacy SN) and their jumps; returns the mappings it had,
 * or undefined when this family has no DN chain for the container (nothing was forwarded).
 */
export async function teardownIptables(
  networkName: string,
  containerId: string,
  six: boolean,
): Promise<PortMapping[] | undefined> {
  const dn = dnChainName(networkName, containerId);
  const sn = chainName(networkName, containerId, 'SN-');
  // The container's own chain and the legacy SNAT chain first: a family with neither (the other
  // family of a single-stack container, a second DEL) costs one round of reads. A legacy SN
  // chain exists only with its jump from CNI-HOSTPORT-SNAT, so the jump stands for the chain.
  const first = await listNatChains(six, [dn, LEGACY_SNAT_CHAIN]);
  const hasSn = first.split('\n').some((l) => l.endsWith(`-j ${sn}`));
  if (!hasSn && !first.split('\n').some((l) => l.startsWith(`:${dn} `))) return undefined;
  let current = `${first}\n${await listNatChains(six, [DNAT_CHAIN])}`;
  if (hasSn) current += `\n:${sn} - [0:0]`;
  const had = mappingsInChain(current, dn);
  await restoreNat(six, renderIptablesTeardown(current, new Set([dn, sn])));
  return had;
}

/** Every expected DNAT rule and the entry jump are present. */
export async function checkIptables(plan: PortmapPlan): Promise<void> {
  const dn = dnChainName(plan.networkName, plan.containerId);
  const current = await listNatChains(plan.six, [DNAT_CHAIN, dn]);
  const { chains, rules } = parseSave(current);
  if (!chains.has(dn)) throw new CniError(ErrorCode.Internal, `chain ${dn} not found in iptables table nat`);
  if (!rules.some((r) => r.startsWith(`-A ${DNAT_CHAIN} `) && r.endsWith(`-j ${dn}`)))
    throw new CniError(ErrorCode.Internal, `rule jumping to ${dn} not found in chain ${DNAT_CHAIN}`);
  const have = mappingsInChain(current, dn);
  for (const m of plan.mappings) {
    if (!unspecified(m.hostIP) && m.hostIP.includes(':') !== plan.six) continue;
    if (
      !have.some(
        (h) =>
          h.protocol === m.protocol &&
          h.hostPort === m.hostPort &&
          h.containerPort === m.containerPort &&
          (unspecified(m.hostIP) ? h.hostIP === '' : h.hostIP === m.hostIP),
      )
    ) {
      throw new CniError(
        ErrorCode.Internal,
        `rule for ${m.protocol} port ${m.hostPort} in chain ${dn} not found in table nat`,
      );
    }
  }
}

/** GC: chains of this network whose container ID is not kept. */
export async function gcIptables(networkName: string, keptIds: ReadonlySet<string>, six: boolean): Promise<void> {
  const current = await saveNat(six);
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
  if (stale.size) await restoreNat(six, renderIptablesTeardown(current, stale));
}
