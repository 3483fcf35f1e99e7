/**
 * The firewall plugin's rules in nftables (`backend: nftables`, ours; the reference has none):
 * one table, `inet tscni_firewall`, with the same meaning as the iptables chains, in a fixed set
 * of rules over sets, so a container adds and removes only set elements:
 *  - chain `forward` (filter hook) jumps to `isolation`, then to `admin` (operators' own rules,
 *    never flushed by tscni), then accepts everything from and replies to `containers4/6`;
 *  - chain `isolation` drops traffic from one bridge in `isolated` to another one in `isolated`
 *    (`samebridge` holds each bridge paired with itself, which nft can match in one lookup);
 *    traffic from a bridge to itself when the pair is in `noicc` (`ingressPolicy: isolated`); and
 *    everything routed into or out of a bridge in `internal` (internal networks; `internalself`
 *    pairs each with itself, so its own traffic passes).
 * An accept in this table cannot overrule a drop in another table at the same hook (nftables
 * evaluates every base chain), so on a host whose iptables FORWARD policy is DROP only the
 * iptables backend lets container traffic through.
 * ADD is one transaction with no read; DEL and GC read the table once to delete only elements
 * that are there (deleting a missing element would abort the transaction).
 */
import { familyOfText } from '../../addr/ip';
import { CniError, ErrorCode } from '../../cni/errors';
import type { Runner } from '../../exec/runner';
import type { RestoreBatch } from '../batch';
import { guardsIn, type ContainerForwarding, type ForwardingChange, type ForwardingExpectation } from '../types';
import { addrText, nftComment, nftString, ownerTag } from '../text';
import { elementsOf, nftApply, nftRead, nftTransact, parseElements, type NftElement } from './nft';
import { brokenBy, INTACT, unsure, type Finding, type RulesetSnapshot } from '../snapshot';

export const FW_TABLE = 'tscni_firewall';
const T = `inet ${FW_TABLE}`;
const setOf = (ip: string): string => `containers${familyOfText(ip)}`;

/** The fixed part of the table, rewritten by every ADD in its transaction. */
export function renderForwardingSkeleton(): string[] {
  return [
    `add table ${T} { comment "tscni firewall plugin: container traffic through the host, bridge isolation" ; }`,
    `add set ${T} containers4 { type ipv4_addr ; }`,
    `add set ${T} containers6 { type ipv6_addr ; }`,
    `add set ${T} isolated { type ifname ; }`,
    `add set ${T} samebridge { type ifname . ifname ; }`,
    `add set ${T} noicc { type ifname . ifname ; }`,
    `add set ${T} internal { type ifname ; }`,
    `add set ${T} internalself { type ifname . ifname ; }`,
    `add chain ${T} forward { type filter hook forward priority filter ; policy accept ; }`,
    `add chain ${T} admin { comment "operators' rules, before the accepts; tscni never changes this chain" ; }`,
    `add chain ${T} isolation`,
    `flush chain ${T} forward`,
    `flush chain ${T} isolation`,
    `add rule ${T} forward jump isolation`,
    `add rule ${T} forward jump admin`,
    `add rule ${T} forward ip daddr @containers4 ct state established,related accept`,
    `add rule ${T} forward ip saddr @containers4 accept`,
    `add rule ${T} forward ip6 daddr @containers6 ct state established,related accept`,
    `add rule ${T} forward ip6 saddr @containers6 accept`,
    `add rule ${T} isolation iifname @isolated oifname @isolated iifname . oifname != @samebridge drop`,
    `add rule ${T} isolation iifname . oifname @noicc drop`,
    `add rule ${T} isolation iifname @internal iifname . oifname != @internalself drop`,
    `add rule ${T} isolation oifname @internal iifname . oifname != @internalself drop`,
  ];
}

const ownerOf = (c: ForwardingChange): string => ownerTag(c.owner.networkName, c.owner.containerId, c.owner.ifName);
const addressElement = (ip: string, comment?: string): string =>
  `${setOf(ip)} { ${addrText(ip)}${comment ? ` ${nftComment(comment, 'owner comment')}` : ''} }`;
const bridgeKey = (br: string): string => nftString(br, 'bridge name');
const pair = (br: string): string => `${bridgeKey(br)} . ${bridgeKey(br)}`;
const isolatedElement = (br: string): string => `isolated { ${bridgeKey(br)} }`;
const sameBridgeElement = (br: string): string => `samebridge { ${pair(br)} }`;
const noIccElement = (br: string): string => `noicc { ${pair(br)} }`;
const internalElement = (br: string): string => `internal { ${bridgeKey(br)} }`;
const internalSelfElement = (br: string): string => `internalself { ${pair(br)} }`;
const bridgeElements = (br: string): string[] => [isolatedElement(br), sameBridgeElement(br)];
const iccElements = (br: string): string[] => [noIccElement(br)];
const internalElements = (br: string): string[] => [internalElement(br), internalSelfElement(br)];
/** Every element that can name a bridge. */
const allBridgeElements = (br: string): string[] => [
  ...bridgeElements(br),
  ...iccElements(br),
  ...internalElements(br),
];

/** The change as one transaction that needs no read: elements to remove are first added, so they exist. */
export function renderForwardingSetup(c: ForwardingChange): string[] {
  const out = renderForwardingSkeleton();
  const owner = ownerOf(c);
  for (const ip of c.accept) out.push(`add element ${T} ${addressElement(ip, owner)}`);
  const noIcc = c.noIcc ?? [];
  const internal = c.internal ?? [];
  for (const br of c.isolate) for (const e of bridgeElements(br)) out.push(`add element ${T} ${e}`);
  for (const br of noIcc) for (const e of iccElements(br)) out.push(`add element ${T} ${e}`);
  for (const br of internal) for (const e of internalElements(br)) out.push(`add element ${T} ${e}`);
  const guarded = new Set([...c.isolate, ...noIcc, ...internal]);
  const forget = c.forget.filter((ip) => !c.accept.includes(ip)).map((ip) => addressElement(ip));
  const unisolate = c.unisolate.filter((br) => !guarded.has(br)).flatMap(allBridgeElements);
  for (const e of [...forget, ...unisolate]) out.push(`add element ${T} ${e}`, `delete element ${T} ${e}`);
  return out;
}

/**
 * Deletions of the change's elements that `existing` holds. Each is added first: should another
 * DEL remove it between our read and our write, the transaction still succeeds.
 */
export function renderForwardingTeardown(c: ForwardingChange, existing: readonly NftElement[]): string[] {
  const present = new Set(existing.map((e) => `${e.set} { ${e.key} }`));
  const gone = [...c.forget.map((ip) => addressElement(ip)), ...c.unisolate.flatMap(allBridgeElements)].filter((e) =>
    present.has(e),
  );
  return gone.flatMap((e) => [`add element ${T} ${e}`, `delete element ${T} ${e}`]);
}

/** What check compares against: the rules' markers present per chain, and every element as `<set> { <key> }`. */
export interface ForwardingIndex {
  readonly markers: ReadonlySet<string>;
  readonly elements: ReadonlySet<string>;
}

/** The rules every container of the table relies on, as markers of their JSON. */
const FIXED_RULES = [
  ['forward', '"target":"isolation"'],
  ['forward', '"@containers4"'],
  ['forward', '"@containers6"'],
  ['isolation', '"@samebridge"'],
  ['isolation', '"@noicc"'],
  ['isolation', '"@internalself"'],
] as const;

export function indexForwarding(objects: ReadonlyArray<Record<string, unknown>>): ForwardingIndex {
  const rules = objects
    .map((o) => o['rule'] as { chain?: string } | undefined)
    .filter((r): r is { chain?: string } => r !== undefined);
  const markers = new Set<string>();
  for (const [chain, marker] of FIXED_RULES)
    if (rules.some((r) => r.chain === chain && JSON.stringify(r).includes(marker))) markers.add(`${chain} ${marker}`);
  return { markers, elements: new Set(elementsOf(objects).map((e) => `${e.set} { ${e.key} }`)) };
}

/** What the table lacks of the expectation; undefined when nothing. */
export function forwardingProblem(expected: ForwardingExpectation, index: ForwardingIndex): CniError | undefined {
  for (const [chain, marker] of FIXED_RULES)
    if (!index.markers.has(`${chain} ${marker}`))
      return new CniError(ErrorCode.Internal, `rule of chain ${chain} not found in nftables table ${T}`, marker);
  const have = index.elements;
  for (const ip of expected.accept)
    if (!have.has(addressElement(ip)))
      return new CniError(ErrorCode.Internal, `address ${ip} not found in set ${setOf(ip)} of ${T}`);
  for (const br of expected.isolate)
    if (!have.has(isolatedElement(br)) || !have.has(sameBridgeElement(br)))
      return new CniError(ErrorCode.Internal, `bridge ${br} not found in sets isolated/samebridge of ${T}`);
  for (const br of expected.noIcc ?? [])
    if (!have.has(noIccElement(br)))
      return new CniError(ErrorCode.Internal, `bridge ${br} not found in set noicc of ${T}`);
  for (const br of expected.internal ?? [])
    if (!have.has(internalElement(br)) || !have.has(internalSelfElement(br)))
      return new CniError(ErrorCode.Internal, `bridge ${br} not found in sets internal/internalself of ${T}`);
  return undefined;
}

export class NftContainerForwarding implements ContainerForwarding {
  constructor(private readonly runner: Runner) {}

  private async listing(): Promise<string | undefined> {
    return nftRead(this.runner, ['-j', 'list', 'table', 'inet', FW_TABLE]);
  }

  async apply(change: ForwardingChange): Promise<void> {
    if (change.accept.length > 0 || guardsIn(change)) {
      await nftApply(this.runner, renderForwardingSetup(change));
      return;
    }
    if (change.forget.length === 0 && change.unisolate.length === 0) return;
    await nftTransact(this.runner, async () => {
      const json = await this.listing();
      return json === undefined ? [] : renderForwardingTeardown(change, parseElements(json));
    });
  }

  /** apply's transaction for a reload pass's batch: the skeleton once, then the change's elements. */
  async stage(batch: RestoreBatch, change: ForwardingChange): Promise<void> {
    if (!(change.accept.length > 0 || guardsIn(change))) throw new Error('only setups are batched');
    const skeleton = renderForwardingSkeleton();
    await batch.nft(skeleton, async () => renderForwardingSetup(change).slice(skeleton.length));
  }

  async check(expected: ForwardingExpectation): Promise<void> {
    const json = await this.listing();
    if (json === undefined) throw new CniError(ErrorCode.Internal, `nftables table ${T} not found`);
    const doc = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
    const problem = forwardingProblem(expected, indexForwarding(doc.nftables ?? []));
    if (problem) throw problem;
  }

  /** check's judgement on the pass's ruleset (the table's index is made once per pass). */
  async inspect(expected: ForwardingExpectation, snap: RulesetSnapshot): Promise<Finding> {
    const index = await snap.memo(`index inet ${FW_TABLE}`, async () => {
      const t = await snap.nftTable('inet', FW_TABLE);
      return t === undefined ? undefined : t.exists ? indexForwarding(t.objects) : null;
    });
    if (index === undefined) return unsure('nft could not be read');
    if (index === null) return brokenBy(new CniError(ErrorCode.Internal, `nftables table ${T} not found`));
    const problem = forwardingProblem(expected, index);
    return problem ? brokenBy(problem) : INTACT;
  }

  async isolatedBridges(): Promise<string[]> {
    const json = await this.listing();
    return json === undefined
      ? []
      : [
          ...new Set(
            parseElements(json)
              .filter((e) => e.set === 'isolated' || e.set === 'internal' || e.set === 'noicc')
              .map((e) => String(e.parts[0])),
          ),
        ];
  }
}
