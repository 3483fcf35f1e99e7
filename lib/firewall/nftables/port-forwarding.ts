/**
 * Port forwarding through nftables (portmap's nftables backend): one table of our own, `inet tscni_hostport`, whose rules never
 * change — a fixed handful that look up maps keyed on (destination address, protocol, port) —
 * while each container adds or removes only its own map and set elements. A packet's lookup and
 * an ADD cost the same with one mapping or thousands. Every element carries an owner comment
 * (network, container ID, ifname), so DEL, CHECK and GC find a container's elements without the
 * runtime resending its port mappings, and two networks of one container stay apart.
 */
import { FAMILIES, familyOfText, type Family } from '../../addr/ip';
import { CniError, ErrorCode } from '../../cni/errors';
import type { Runner } from '../../exec/runner';
import type { RestoreBatch } from '../batch';
import { attachmentKey, type Attachment } from '../../cni/invocation';
import type { ContainerAddress, ForwardedPorts, PortForwarding, PortForwardRequest, PortMapping } from '../types';
import { withPortForwardingLock } from '../port-lock';
import { addrText, nftComment, ownerTag, parseOwnerTag, portText, protocolText } from '../text';
import { elementsOf, nftRead, nftTransact, parseElements, type NftElement, type TableProbe } from './nft';
import { brokenBy, INTACT, unsure, type Finding, type RulesetSnapshot } from '../snapshot';
import { nftTableExists } from '../../netlink/nftables';

export { parseElements, type NftElement };

export const NFT_TABLE = 'tscni_hostport';
const T = `inet ${NFT_TABLE}`;

/** Map and set names per family. */
const names = (family: Family): { host: string; any: string; hairpin: string; local: string; all: string } => {
  const f = String(family);
  return {
    host: `hostports${f}`,
    any: `anyports${f}`,
    hairpin: `hairpin${f}`,
    local: `localsnat${f}`,
    all: `masqall${f}`,
  };
};

/** Whether a map or set of this table holds IPv6 entries (the names end in the family). */
export const isSixSet = (set: string): boolean => set.endsWith('6');

/** The owner comment of an attachment's elements (lib/firewall/text.ts: readable, or a hash). */
export const ownerComment = ownerTag;
export const parseOwner = parseOwnerTag;

/** The fixed part of the table: rewritten (flushed and re-added) by every ADD, in the same transaction. */
export function renderSkeleton(): string[] {
  const out = [`add table ${T} { comment "tscni portmap: host port forwarding" ; }`];
  for (const family of FAMILIES) {
    const n = names(family);
    const a = family === 6 ? 'ipv6_addr' : 'ipv4_addr';
    out.push(
      `add map ${T} ${n.host} { type ${a} . inet_proto . inet_service : ${a} . inet_service ; }`,
      `add map ${T} ${n.any} { type inet_proto . inet_service : ${a} . inet_service ; }`,
      `add set ${T} ${n.hairpin} { type ${a} . ${a} ; }`,
      `add set ${T} ${n.all} { type ${a} ; }`,
    );
    if (family === 4) out.push(`add set ${T} ${n.local} { type ${a} ; }`);
  }
  out.push(
    `add chain ${T} prerouting { type nat hook prerouting priority dstnat ; }`,
    `add chain ${T} output { type nat hook output priority -100 ; }`,
    `add chain ${T} postrouting { type nat hook postrouting priority srcnat ; }`,
    `add chain ${T} hostports`,
  );
  for (const c of ['prerouting', 'output', 'postrouting', 'hostports']) out.push(`flush chain ${T} ${c}`);
  // Only traffic to this host's own addresses is intercepted.
  out.push(
    `add rule ${T} prerouting fib daddr type local jump hostports`,
    `add rule ${T} output fib daddr type local jump hostports`,
  );
  for (const family of FAMILIES) {
    const n = names(family);
    const ip = family === 6 ? 'ip6' : 'ip';
    out.push(
      `add rule ${T} hostports dnat ${ip} to ${ip} daddr . meta l4proto . th dport map @${n.host}`,
      `add rule ${T} hostports dnat ${ip} to meta l4proto . th dport map @${n.any}`,
      `add rule ${T} postrouting ct status dnat ${ip} saddr . ${ip} daddr @${n.hairpin} masquerade`,
      `add rule ${T} postrouting ct status dnat ${ip} daddr @${n.all} masquerade`,
    );
    if (family === 4)
      out.push(`add rule ${T} postrouting ct status dnat ip saddr 127.0.0.0/8 ip daddr @${n.local} masquerade`);
  }
  return out;
}

/** Rules the skeleton puts in each chain. */
const SKELETON_RULES: ReadonlyMap<string, number> = (() => {
  const counts = new Map<string, number>();
  for (const line of renderSkeleton()) {
    const m = new RegExp(`^add rule ${T} (\\S+) `).exec(line);
    if (m?.[1]) counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
  }
  return counts;
})();

/** What the table lacks of its fixed part, from `nft -j list table`; undefined when nothing. */
export function skeletonShortfall(json: string): string | undefined {
  const doc = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
  return skeletonShortfallOf(doc.nftables ?? []);
}

/** skeletonShortfall of a listing's objects. */
export function skeletonShortfallOf(objects: ReadonlyArray<Record<string, unknown>>): string | undefined {
  const have = new Map<string, number>();
  const chains = new Set<string>();
  for (const obj of objects) {
    const chain = obj['chain'] as { name?: unknown } | undefined;
    if (typeof chain?.name === 'string') chains.add(chain.name);
    const rule = obj['rule'] as { chain?: unknown } | undefined;
    if (typeof rule?.chain === 'string') have.set(rule.chain, (have.get(rule.chain) ?? 0) + 1);
  }
  for (const [chain, n] of SKELETON_RULES) {
    if (!chains.has(chain)) return `chain ${chain} missing`;
    if ((have.get(chain) ?? 0) < n) return `chain ${chain} has ${have.get(chain) ?? 0} of its ${n} rules`;
  }
  return undefined;
}

export interface NftPlan {
  readonly owner: string;
  readonly family: Family;
  readonly containerIP: string;
  readonly mappings: readonly PortMapping[];
  readonly snat: boolean;
  readonly masqAll: boolean;
}

const unspecified = (ip: string): boolean => ip === '' || ip === '0.0.0.0' || ip === '::';

/** `add element` lines for one container and family. */
export function renderElements(p: NftPlan): string[] {
  const n = names(p.family);
  const c = ` ${nftComment(p.owner, 'owner comment')}`;
  const ip = addrText(p.containerIP, 'container address');
  const out: string[] = [];
  for (const m of p.mappings) {
    if (!unspecified(m.hostIP) && familyOfText(m.hostIP) !== p.family) continue;
    const key = `${protocolText(m.protocol)} . ${portText(m.hostPort)}`;
    const val = `${ip} . ${portText(m.containerPort)}`;
    if (unspecified(m.hostIP)) out.push(`add element ${T} ${n.any} { ${key}${c} : ${val} }`);
    else out.push(`add element ${T} ${n.host} { ${addrText(m.hostIP, 'host IP')} . ${key}${c} : ${val} }`);
  }
  if (p.masqAll) out.push(`add element ${T} ${n.all} { ${ip}${c} }`);
  else if (p.snat) {
    // A container reaching its own host port: without masquerade the reply would come from itself.
    out.push(`add element ${T} ${n.hairpin} { ${ip} . ${ip}${c} }`);
    if (p.family === 4) out.push(`add element ${T} ${n.local} { ${ip}${c} }`);
  }
  return out;
}

export const deleteLine = (e: NftElement): string => `delete element ${T} ${e.set} { ${e.key} }`;

/** Elements another owner holds on the host ports `p` wants: the conflicts. */
export function conflicts(p: NftPlan, existing: readonly NftElement[]): NftElement[] {
  const n = names(p.family);
  const found: NftElement[] = [];
  for (const m of p.mappings) {
    if (!unspecified(m.hostIP) && familyOfText(m.hostIP) !== p.family) continue;
    for (const e of existing) {
      if (e.comment === p.owner || (e.set !== n.any && e.set !== n.host)) continue;
      const [a, b, c] = e.parts;
      const proto = e.set === n.any ? a : b;
      const port = e.set === n.any ? b : c;
      const hostIP = e.set === n.any ? '' : String(a);
      if (
        proto === m.protocol &&
        Number(port) === m.hostPort &&
        (unspecified(m.hostIP) || hostIP === '' || hostIP === m.hostIP)
      )
        found.push(e);
    }
  }
  return found;
}

export function nftPlanOf(req: PortForwardRequest, c: ContainerAddress): NftPlan {
  const a = req.attachment;
  return {
    owner: ownerComment(a.networkName, a.containerId, a.ifName),
    family: c.family,
    containerIP: c.address,
    mappings: req.mappings,
    snat: req.snat,
    masqAll: req.masqAll,
  };
}

const PROTOCOLS: Readonly<Record<string, PortMapping['protocol']>> = {
  tcp: 'tcp',
  udp: 'udp',
  sctp: 'sctp',
  '6': 'tcp',
  '17': 'udp',
  '132': 'sctp',
};

/** The mappings that map elements stand for (set elements forward nothing). */
export function mappingsOf(elements: readonly NftElement[]): Map<Family, PortMapping[]> {
  const out = new Map<Family, PortMapping[]>();
  for (const e of elements) {
    const fam = isSixSet(e.set) ? 6 : 4;
    if (!out.has(fam)) out.set(fam, []);
    const any = e.set.startsWith('anyports');
    if (!any && !e.set.startsWith('hostports')) continue;
    const [hostIP, proto, port] = any ? ['', ...e.parts] : e.parts;
    const protocol = PROTOCOLS[String(proto)];
    if (!protocol) continue;
    out.get(fam)?.push({
      hostIP: String(hostIP),
      protocol,
      hostPort: Number(port),
      containerPort: Number(e.value?.[1] ?? 0),
    });
  }
  return out;
}

/** What check compares against: the skeleton's shortfall and every element as `<set> <key> <owner>`. */
export interface HostportIndex {
  readonly shortfall: string | undefined;
  readonly elements: ReadonlySet<string>;
}

export const indexHostports = (objects: ReadonlyArray<Record<string, unknown>>): HostportIndex => ({
  shortfall: skeletonShortfallOf(objects),
  elements: new Set(elementsOf(objects).map((e) => `${e.set} ${e.key} ${e.comment}`)),
});

/** What the table lacks of the request's forwarding; undefined when nothing. */
export function hostportProblem(req: PortForwardRequest, index: HostportIndex): CniError | undefined {
  if (index.shortfall) return new CniError(ErrorCode.Internal, `nftables table ${T} is incomplete`, index.shortfall);
  for (const c of req.containers) {
    for (const line of renderElements(nftPlanOf(req, c))) {
      // `add element inet tscni_hostport <set> { <key> comment "<owner>"[ : <value>] }`
      const m = /^add element \S+ \S+ (\S+) \{ (.*) comment "([^"]*)"/.exec(line);
      if (m && !index.elements.has(`${m[1]} ${m[2]} ${m[3]}`))
        return new CniError(ErrorCode.Internal, `missing hostport element ${m[2]} in ${m[1]}`);
    }
  }
  return undefined;
}

export class NftPortForwarding implements PortForwarding {
  constructor(
    private readonly runner: Runner,
    private readonly tableExists: TableProbe = nftTableExists,
  ) {}

  private async elements(): Promise<NftElement[]> {
    const json = await nftRead(this.runner, ['-j', 'list', 'table', 'inet', NFT_TABLE]);
    return json === undefined ? [] : parseElements(json);
  }

  /** Installs one container's elements for every family, replacing its old ones, in one transaction. */
  async setup(req: PortForwardRequest): Promise<void> {
    const plans = req.containers.map((c) => nftPlanOf(req, c));
    // Under the lock: a concurrent ADD cannot take the same port between the read and the write.
    await withPortForwardingLock(() =>
      nftTransact(this.runner, async () => {
        const existing = await this.elements();
        for (const p of plans) {
          const clash = conflicts(p, existing)[0];
          if (clash) {
            throw new CniError(
              ErrorCode.Internal,
              `host port ${clash.parts.join(' . ')} is already forwarded to another container`,
              `owner ${clash.comment}`,
            );
          }
        }
        const owner = plans[0]?.owner;
        const stale = existing.filter((e) => e.comment === owner).map(deleteLine);
        return [...renderSkeleton(), ...stale, ...plans.flatMap(renderElements)];
      }),
    );
  }

  /** setup's transaction for a reload pass's batch, from its fresh ruleset (the caller holds the port-forwarding lock). */
  async stage(batch: RestoreBatch, req: PortForwardRequest): Promise<void> {
    const plans = req.containers.map((c) => nftPlanOf(req, c));
    await batch.nft(renderSkeleton(), async (fresh) => {
      const t = await fresh.nftTable('inet', NFT_TABLE);
      if (!t) throw new Error('nft could not be read');
      const existing = elementsOf(t.objects);
      for (const p of plans) {
        const clash = conflicts(p, existing)[0];
        if (clash)
          throw new CniError(
            ErrorCode.Internal,
            `host port ${clash.parts.join(' . ')} is already forwarded to another container`,
            `owner ${clash.comment}`,
          );
      }
      const owner = plans[0]?.owner;
      return [...existing.filter((e) => e.comment === owner).map(deleteLine), ...plans.flatMap(renderElements)];
    });
  }

  async teardown(a: Attachment): Promise<ForwardedPorts> {
    const owner = ownerComment(a.networkName, a.containerId, a.ifName);
    let mine: NftElement[] = [];
    // Asked over netlink first: where nobody ever used this backend, nft need not start.
    if (this.tableExists('inet', NFT_TABLE) === false) return mappingsOf(mine);
    await nftTransact(this.runner, async () => {
      mine = (await this.elements()).filter((e) => e.comment === owner);
      return mine.map(deleteLine);
    });
    return mappingsOf(mine);
  }

  /** The table's fixed rules (a flush leaves chains without them) and the attachment's elements. */
  async check(req: PortForwardRequest): Promise<void> {
    const json = await nftRead(this.runner, ['-j', 'list', 'table', 'inet', NFT_TABLE]);
    if (json === undefined) throw new CniError(ErrorCode.Internal, `nftables table ${T} not found`);
    const doc = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
    const problem = hostportProblem(req, indexHostports(doc.nftables ?? []));
    if (problem) throw problem;
  }

  /** check's judgement on the pass's ruleset (the table's index is made once per pass). */
  async inspect(req: PortForwardRequest, snap: RulesetSnapshot): Promise<Finding> {
    const index = await snap.memo(`index inet ${NFT_TABLE}`, async () => {
      const t = await snap.nftTable('inet', NFT_TABLE);
      return t === undefined ? undefined : t.exists ? indexHostports(t.objects) : null;
    });
    if (index === undefined) return unsure('nft could not be read');
    if (index === null) return brokenBy(new CniError(ErrorCode.Internal, `nftables table ${T} not found`));
    const problem = hostportProblem(req, index);
    return problem ? brokenBy(problem) : INTACT;
  }

  /** Elements of this network whose (container, ifname) is not kept. Hashed owners are kept. */
  async gc(networkName: string, keep: ReadonlySet<string>): Promise<void> {
    if (this.tableExists('inet', NFT_TABLE) === false) return;
    await nftTransact(this.runner, async () =>
      (await this.elements())
        .filter((e) => {
          const o = parseOwner(e.comment);
          return o !== undefined && o.net === networkName && !keep.has(attachmentKey(o.cid, o.ifName));
        })
        .map(deleteLine),
    );
  }
}
