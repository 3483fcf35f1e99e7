/**
 * The firewall plugin's rules in iptables table filter, exactly as the reference writes them, so
 * that either implementation finds and removes the other's:
 *  - FORWARD jumps to CNI-FORWARD ("CNI firewall plugin rules"), whose first rule jumps to the
 *    admin chain (CNI-ADMIN, left to operators), followed by two rules per container address:
 *    replies to it (RELATED,ESTABLISHED) and everything from it are accepted. This is what lets
 *    container traffic through a host whose FORWARD policy is DROP.
 *  - `ingressPolicy: same-bridge`: FORWARD first jumps to CNI-ISOLATION-STAGE-1, which sends
 *    traffic entering from an isolated bridge and leaving by another interface to
 *    CNI-ISOLATION-STAGE-2, which drops it when that interface is another isolated bridge.
 *  - `ingressPolicy: isolated` (upstream's newer value): the same, and STAGE-1 also drops traffic
 *    from the bridge to itself (`-i br -o br`, what Docker's icc=false writes), with upstream's
 *    "(ingressPolicy: isolated)" comment on the bridge's STAGE-1 rules.
 *  - internal networks (ours): STAGE-1 drops everything routed into or out of the bridge.
 * The rules carry no container ID, only addresses and bridge names; the plugin's records say
 * which attachment holds which. A change is one `iptables-restore --noflush` per family,
 * rendered from a listing of just the chains it touches.
 */
import { FAMILIES, bitsOf, familyOfText, type Family } from '../../addr/ip';
import { CniError, ErrorCode } from '../../cni/errors';
import type { Runner } from '../../exec/runner';
import { concurrently } from '../../async';
import { guardsIn, type ContainerForwarding, type ForwardingChange, type ForwardingExpectation } from '../types';
import { addrText, iptChain, iptComment, iptIface, isIptIface } from '../text';
import { brokenBy, combine, INTACT, unsure, type Finding, type RulesetSnapshot } from '../snapshot';
import type { RestoreBatch } from '../batch';
import { indexTable, listChains, parseSave, transact, type IndexedTable } from './tables';

export const FORWARD_CHAIN = 'CNI-FORWARD';
export const STAGE1 = 'CNI-ISOLATION-STAGE-1';
export const STAGE2 = 'CNI-ISOLATION-STAGE-2';
const ISOLATION = iptComment('CNI firewall plugin rules (ingressPolicy: same-bridge)');
const ISOLATED = iptComment('CNI firewall plugin rules (ingressPolicy: isolated)');
const INTERNAL = iptComment('CNI firewall plugin rules (internal network)');
const host = (ip: string): string => addrText(`${ip}/${bitsOf(familyOfText(ip))}`);
const bridge = (br: string): string => iptIface(br, 'bridge name');

/** Rule specifications as `iptables -S` lists them (after `-A <chain> `). */
export const spec = {
  jumpToForward: `${iptComment('CNI firewall plugin rules')} -j ${FORWARD_CHAIN}`,
  jumpToAdmin: (admin: string): string =>
    `${iptComment('CNI firewall plugin admin overrides')} -j ${iptChain(admin, 'iptablesAdminChainName')}`,
  replies: (ip: string): string => `-d ${host(ip)} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  from: (ip: string): string => `-s ${host(ip)} -j ACCEPT`,
  jumpToStage1: `${ISOLATION} -j ${STAGE1}`,
  stage1Bridge: (br: string): string => `-i ${bridge(br)} ! -o ${bridge(br)} ${ISOLATION} -j ${STAGE2}`,
  stage1BridgeIsolated: (br: string): string => `-i ${bridge(br)} ! -o ${bridge(br)} ${ISOLATED} -j ${STAGE2}`,
  iccDrop: (br: string): string => `-i ${bridge(br)} -o ${bridge(br)} ${ISOLATED} -j DROP`,
  internalOut: (br: string): string => `-i ${bridge(br)} ! -o ${bridge(br)} ${INTERNAL} -j DROP`,
  internalIn: (br: string): string => `! -i ${bridge(br)} -o ${bridge(br)} ${INTERNAL} -j DROP`,
  stage2Bridge: (br: string): string => `-o ${bridge(br)} ${ISOLATION} -j DROP`,
  stageReturn: `${ISOLATION} -j RETURN`,
};

const inFamily = (family: Family) => (ip: string) => familyOfText(ip) === family;

/** Bridges named by the isolation rules of a STAGE-1 listing. */
export function bridgesIn(listing: string): string[] {
  const out: string[] = [];
  for (const line of listing.split('\n')) {
    const m = new RegExp(`^-A ${STAGE1} -i (\\S+) ! -o (\\S+) `).exec(line);
    // A name that could not be written back into a rule is none of ours.
    if (m?.[1] && m[1] === m[2] && isIptIface(m[1])) out.push(m[1]);
  }
  return out;
}

/** The chains a change reads in one family. */
export function chainsToRead(change: ForwardingChange, family: Family): string[] {
  const chains = new Set<string>();
  // Accepting needs the jumps into CNI-FORWARD and the admin chain; forgetting only CNI-FORWARD.
  if (change.accept.some(inFamily(family)))
    for (const c of ['FORWARD', FORWARD_CHAIN, change.adminChain]) chains.add(c);
  if (change.forget.some(inFamily(family))) chains.add(FORWARD_CHAIN);
  if (change.families.includes(family) && (guardsIn(change) || change.unisolate.length > 0))
    for (const c of ['FORWARD', STAGE1, STAGE2]) chains.add(c);
  return [...chains];
}

/** iptables-restore text for one family of a change, given a listing of the chains it reads. */
export function renderForwardingChange(change: ForwardingChange, family: Family, current: string): string {
  const { chains, rules } = parseSave(current);
  // Rules are counted, not just noted: two writers that read the same state may both have added
  // a rule, and any later change removes the extra copy (teardown removes every copy).
  const live = new Map<string, number>();
  for (const r of rules) live.set(r, (live.get(r) ?? 0) + 1);
  const out: string[] = [];
  const count = (chain: string, s: string): number => live.get(`-A ${chain} ${s}`) ?? 0;
  const ensureChain = (c: string): void => {
    if (chains.has(c)) return;
    out.push(`-N ${iptChain(c)}`);
    chains.add(c);
  };
  const drop = (chain: string, s: string, copies: number): void => {
    for (let i = 0; i < copies; i++) out.push(`-D ${chain} ${s}`);
    live.set(`-A ${chain} ${s}`, count(chain, s) - copies);
  };
  const ensure = (chain: string, s: string, how: 'insert' | 'append'): void => {
    const n = count(chain, s);
    if (n > 1) drop(chain, s, n - 1);
    if (n > 0) return;
    out.push(how === 'insert' ? `-I ${chain} 1 ${s}` : `-A ${chain} ${s}`);
    live.set(`-A ${chain} ${s}`, 1);
  };
  const insert = (chain: string, s: string): void => ensure(chain, s, 'insert');
  const append = (chain: string, s: string): void => ensure(chain, s, 'append');
  const remove = (chain: string, s: string): void => drop(chain, s, count(chain, s));

  const accept = change.accept.filter(inFamily(family));
  if (accept.length > 0) {
    ensureChain(FORWARD_CHAIN);
    ensureChain(change.adminChain);
    insert('FORWARD', spec.jumpToForward);
    insert(FORWARD_CHAIN, spec.jumpToAdmin(change.adminChain));
    for (const ip of accept) {
      append(FORWARD_CHAIN, spec.replies(ip));
      append(FORWARD_CHAIN, spec.from(ip));
    }
  }
  for (const ip of change.forget.filter(inFamily(family))) {
    if (accept.includes(ip)) continue;
    remove(FORWARD_CHAIN, spec.replies(ip));
    remove(FORWARD_CHAIN, spec.from(ip));
  }

  if (change.families.includes(family)) {
    const noIcc = change.noIcc ?? [];
    const internal = change.internal ?? [];
    if (guardsIn(change)) {
      ensureChain(STAGE1);
      ensureChain(STAGE2);
      // Before CNI-FORWARD's accepts, or they would let cross-bridge traffic through.
      insert('FORWARD', spec.jumpToStage1);
      for (const br of change.isolate)
        insert(STAGE1, noIcc.includes(br) ? spec.stage1BridgeIsolated(br) : spec.stage1Bridge(br));
      for (const br of noIcc) insert(STAGE1, spec.iccDrop(br));
      for (const br of internal) {
        insert(STAGE1, spec.internalOut(br));
        insert(STAGE1, spec.internalIn(br));
      }
      append(STAGE1, spec.stageReturn);
      for (const br of change.isolate) insert(STAGE2, spec.stage2Bridge(br));
      append(STAGE2, spec.stageReturn);
    }
    const guarded = new Set([...change.isolate, ...noIcc, ...internal]);
    let unisolated = false;
    for (const br of change.unisolate) {
      if (guarded.has(br)) continue;
      const stage1 = [spec.stage1Bridge, spec.stage1BridgeIsolated, spec.iccDrop, spec.internalOut, spec.internalIn];
      for (const r of stage1) {
        unisolated ||= count(STAGE1, r(br)) > 0;
        remove(STAGE1, r(br));
      }
      unisolated ||= count(STAGE2, spec.stage2Bridge(br)) > 0;
      remove(STAGE2, spec.stage2Bridge(br));
    }
    const bridgesLeft = [...live]
      .filter(([r, n]) => n > 0 && r.startsWith(`-A ${STAGE1} `) && r !== `-A ${STAGE1} ${spec.stageReturn}`)
      .map(([r]) => r);
    if (unisolated && chains.has(STAGE1)) {
      if (bridgesLeft.length === 0) {
        // The last isolated bridge gone: the stage chains and their jump go too. Their rules are
        // deleted one by one, not flushed, so a bridge another writer adds meanwhile makes `-X`
        // fail (and this change be rendered again) instead of being flushed away.
        remove('FORWARD', spec.jumpToStage1);
        for (const c of [STAGE1, STAGE2].filter((x) => chains.has(x))) {
          for (const [r, n] of [...live]) if (n > 0 && r.startsWith(`-A ${c} `)) drop(c, r.slice(`-A ${c} `.length), n);
          out.push(`-X ${c}`);
        }
      } else {
        // The chains stay because another bridge's rule is there: delete and re-insert one such
        // rule, so that if its owner removes it at the same time this transaction fails and is
        // rendered again (else both could keep the chains, each counting on the other's bridge).
        const kept = bridgesLeft[0]?.slice(`-A ${STAGE1} `.length);
        if (kept) out.push(`-D ${STAGE1} ${kept}`, `-I ${STAGE1} 1 ${kept}`);
      }
    }
  }
  return out.length > 0 ? ['*filter', ...out, 'COMMIT', ''].join('\n') : '';
}

/** What one family of an expectation needs, by kind. */
function expectedIn(expected: ForwardingExpectation, family: Family) {
  const accept = expected.accept.filter(inFamily(family));
  const inFam = expected.families.includes(family);
  const isolate = inFam ? expected.isolate : [];
  const noIcc = inFam ? (expected.noIcc ?? []) : [];
  const internal = inFam ? (expected.internal ?? []) : [];
  const guarded = isolate.length + noIcc.length + internal.length > 0;
  return { accept, isolate, noIcc, internal, guarded };
}

/** The chains check lists in one family; none when the family has nothing to check. */
function chainsOfCheck(expected: ForwardingExpectation, family: Family): string[] {
  const { accept, guarded } = expectedIn(expected, family);
  if (accept.length === 0 && !guarded) return [];
  return ['FORWARD', FORWARD_CHAIN, expected.adminChain, ...(guarded ? [STAGE1, STAGE2] : [])];
}

/** What one family lacks of the expectation in its filter table (or the chains check lists); undefined when nothing. */
export function forwardingProblem(
  expected: ForwardingExpectation,
  family: Family,
  filter: IndexedTable,
): CniError | undefined {
  const { accept, isolate, noIcc, internal, guarded } = expectedIn(expected, family);
  const table = `${family === 6 ? 'ip6tables' : 'iptables'} table filter`;
  const lacks = (chain: string, s: string): boolean => !filter.ruleSet.has(`-A ${chain} ${s}`);
  const wanted: Array<[string, string]> = [];
  if (accept.length > 0) {
    if (!filter.chains.has(expected.adminChain))
      return new CniError(ErrorCode.Internal, `chain ${expected.adminChain} not found in ${table}`);
    wanted.push(['FORWARD', spec.jumpToForward], [FORWARD_CHAIN, spec.jumpToAdmin(expected.adminChain)]);
    for (const ip of accept) wanted.push([FORWARD_CHAIN, spec.replies(ip)], [FORWARD_CHAIN, spec.from(ip)]);
  }
  if (guarded) wanted.push(['FORWARD', spec.jumpToStage1]);
  for (const br of isolate)
    wanted.push(
      [STAGE1, noIcc.includes(br) ? spec.stage1BridgeIsolated(br) : spec.stage1Bridge(br)],
      [STAGE2, spec.stage2Bridge(br)],
    );
  for (const br of noIcc) wanted.push([STAGE1, spec.iccDrop(br)]);
  for (const br of internal) wanted.push([STAGE1, spec.internalOut(br)], [STAGE1, spec.internalIn(br)]);
  const gone = wanted.find(([chain, s]) => lacks(chain, s));
  if (gone) return new CniError(ErrorCode.Internal, `firewall rule not found in ${table}`, `-A ${gone[0]} ${gone[1]}`);
  const order = filter.rulesOf('FORWARD');
  const iso = order.indexOf(`-A FORWARD ${spec.jumpToStage1}`);
  const fwd = order.indexOf(`-A FORWARD ${spec.jumpToForward}`);
  if (guarded && fwd >= 0 && iso > fwd)
    return new CniError(
      ErrorCode.Internal,
      `${table}: FORWARD reaches ${FORWARD_CHAIN} before ${STAGE1}, so bridges are not isolated`,
    );
  return undefined;
}

export class IptablesContainerForwarding implements ContainerForwarding {
  constructor(private readonly runner: Runner) {}

  async apply(change: ForwardingChange): Promise<void> {
    await concurrently(
      ...FAMILIES.map(async (family) => {
        const chains = chainsToRead(change, family);
        if (chains.length === 0) return;
        await transact(
          this.runner,
          family,
          () => listChains(this.runner, family, 'filter', chains),
          (current) => renderForwardingChange(change, family, current),
        );
      }),
    );
  }

  /** apply rendered from the batch's model of each filter table (which holds every chain apply would list). */
  async stage(batch: RestoreBatch, change: ForwardingChange): Promise<void> {
    await batch.iptables(
      FAMILIES.filter((family) => chainsToRead(change, family).length > 0).map((family) => ({
        family,
        table: 'filter' as const,
        render: (current: string) => renderForwardingChange(change, family, current),
      })),
    );
  }

  async check(expected: ForwardingExpectation): Promise<void> {
    for (const family of FAMILIES) {
      const reads = chainsOfCheck(expected, family);
      if (reads.length === 0) continue;
      const problem = forwardingProblem(
        expected,
        family,
        indexTable(await listChains(this.runner, family, 'filter', reads)),
      );
      if (problem) throw problem;
    }
  }

  /** check's judgement on the pass's filter tables. */
  async inspect(expected: ForwardingExpectation, snap: RulesetSnapshot): Promise<Finding> {
    const findings: Finding[] = [];
    for (const family of FAMILIES) {
      if (chainsOfCheck(expected, family).length === 0) continue;
      const filter = await snap.iptables(family, 'filter');
      if (!filter) {
        findings.push(unsure(`${family === 6 ? 'ip6' : 'ip'}tables-save failed`));
        continue;
      }
      const problem = forwardingProblem(expected, family, filter);
      findings.push(problem ? brokenBy(problem) : INTACT);
    }
    return combine(findings);
  }

  async isolatedBridges(): Promise<string[]> {
    const [v4, v6] = await concurrently(
      listChains(this.runner, 4, 'filter', [STAGE1]),
      listChains(this.runner, 6, 'filter', [STAGE1]),
    );
    return [...new Set([...bridgesIn(v4), ...bridgesIn(v6)])];
  }
}
