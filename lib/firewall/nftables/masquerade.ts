/**
 * IP masquerade through nftables (bridge `ipMasq` with `ipMasqBackend: nftables`), with the
 * reference's names: table `inet cni_plugins_masquerade`, one rule per address in chain
 * `masq_checks` whose comment starts with a hash of (net, ifname, id). Setup and teardown are one
 * `nft -f` each; rules are found by that comment, so teardown needs no addresses.
 */
import { familyOfText, formatCIDR, formatIP, parseCIDR, parseIP } from '../../addr/ip';
import { CniError, ErrorCode } from '../../cni/errors';
import type { Runner } from '../../exec/runner';
import type { RestoreBatch } from '../batch';
import { nftMasqHash, nftMasqNetworkHash } from '../names';
import { type Attachment } from '../../cni/invocation';
import { addrText, looseCommentText, nftLooseComment } from '../text';
import type { Masquerade, MasqAddress } from '../types';
import { nftRead, nftTransact, type TableProbe } from './nft';
import { nftTableExists } from '../../netlink/nftables';
import { brokenBy, INTACT, unsure, type Finding, type NftTableListing, type RulesetSnapshot } from '../snapshot';

export const MASQ_TABLE = 'cni_plugins_masquerade';
const T = `inet ${MASQ_TABLE}`;

/**
 * The reference's comment: the attachment's hash, then its names with `"` dropped, cut to 128
 * bytes. Rules are found by the hash (teardown) or by the whole comment (GC), never by parsing it.
 */
/** Plain strings: GC rebuilds the comments of kept attachments from their keys. */
export const masqComment = (a: { networkName: string; containerId: string; ifName: string }): string =>
  looseCommentText(
    `${nftMasqHash(a.networkName, a.ifName, a.containerId)}, net: ${a.networkName}, if: ${a.ifName}, id: ${a.containerId}`,
  );

/** The rule of one address, as `add rule` takes it. */
const ruleFor = (a: Attachment, x: MasqAddress): string => {
  const fam = familyOfText(x.address) === 6 ? 'ip6' : 'ip';
  return `${fam} saddr == ${addrText(x.address)} ${fam} daddr != ${addrText(x.subnet, 'subnet')} masquerade ${nftLooseComment(masqComment(a))}`;
};

/** nft text that (re)creates the table's skeleton and the attachment's rules, replacing its old ones. */
export function renderNftMasqSetup(
  a: Attachment,
  addrs: readonly MasqAddress[],
  staleHandles: readonly number[],
): string[] {
  const lines = [
    `add table ${T} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
    `add chain ${T} masq_checks { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
    `add chain ${T} postrouting { type nat hook postrouting priority 100 ; }`,
    `flush chain ${T} postrouting`,
    `add rule ${T} postrouting ip daddr == 224.0.0.0/4 return`,
    `add rule ${T} postrouting ip6 daddr == ff00::/8 return`,
    `add rule ${T} postrouting goto masq_checks`,
  ];
  for (const h of staleHandles) lines.push(`delete rule ${T} masq_checks handle ${h}`);
  for (const x of addrs) lines.push(`add rule ${T} masq_checks ${ruleFor(a, x)}`);
  return lines;
}

export const renderNftMasqDelete = (handles: readonly number[]): string[] =>
  handles.map((h) => `delete rule ${T} masq_checks handle ${h}`);

export interface MasqRule {
  readonly handle: number;
  readonly comment: string;
  /** The rule as listed, without its handle. */
  readonly text: string;
}

/** Rules of masq_checks from `nft -a list chain` output. */
export function parseMasqRules(listing: string): MasqRule[] {
  const rules: MasqRule[] = [];
  for (const line of listing.split('\n')) {
    const m = /^\s*(.*comment "([^"]*)".*) # handle (\d+)/.exec(line);
    if (m?.[1] && m[2] !== undefined && m[3]) rules.push({ text: m[1], comment: m[2], handle: Number(m[3]) });
  }
  return rules;
}

/** An address or prefix as nft's JSON lists it (`"10.0.0.2"`, `{ prefix: { addr, len } }`), canonical; '' when neither. */
function jsonAddr(v: unknown): string {
  if (typeof v === 'string') {
    const ip = parseIP(v);
    return ip ? formatIP(ip) : '';
  }
  const p = (v as { prefix?: { addr?: unknown; len?: unknown } } | null)?.prefix;
  const c = typeof p?.addr === 'string' && typeof p.len === 'number' ? parseCIDR(`${p.addr}/${p.len}`) : undefined;
  return c ? formatCIDR(c.addr, c.prefix) : '';
}

/** `saddr <a> daddr != <subnet> masquerade`, read from a rule's JSON expressions; undefined when it is not that. */
function masqRuleOf(expr: unknown): string | undefined {
  if (!Array.isArray(expr) || expr.length !== 3) return undefined;
  const [src, dst, verdict] = expr as Array<Record<string, unknown>>;
  const field = (m: unknown, name: string, op: string): unknown => {
    const x = (m as { match?: { op?: unknown; left?: { payload?: { field?: unknown } }; right?: unknown } } | undefined)
      ?.match;
    return x?.op === op && x.left?.payload?.field === name ? x.right : undefined;
  };
  if (!verdict || !('masquerade' in verdict)) return undefined;
  const saddr = jsonAddr(field(src, 'saddr', '=='));
  // A subnet of one address is listed as that address.
  const d = jsonAddr(field(dst, 'daddr', '!='));
  const subnet = d.includes('/') || d === '' ? d : `${d}/${familyOfText(d) === 6 ? 128 : 32}`;
  return `saddr ${saddr} daddr != ${subnet}`;
}

/**
 * Masquerade judged from the table's JSON listing. Broken when the table, the postrouting goto
 * or every rule of the attachment (found by its hash, as setup finds them) is missing; a rule
 * with the attachment's comment that reads otherwise than expected is unsure (check compares the
 * listed text).
 */
export function nftMasqFinding(t: NftTableListing, a: Attachment, addrs: readonly MasqAddress[]): Finding {
  const missing = (msg: string, details?: string): Finding => brokenBy(new CniError(ErrorCode.Internal, msg, details));
  if (!t.exists) return missing(`nftables table ${T} not found`);
  const rules = t.objects
    .map((o) => o['rule'] as { chain?: unknown; comment?: unknown; expr?: unknown } | undefined)
    .filter((r) => r !== undefined);
  if (
    !rules.some(
      (r) => r.chain === 'postrouting' && JSON.stringify(r.expr).includes('{"goto":{"target":"masq_checks"}}'),
    )
  )
    return missing(`nftables chain postrouting of ${T} does not reach masq_checks`);
  const prefix = nftMasqHash(a.networkName, a.ifName, a.containerId);
  const mine = rules.filter(
    (r) => r.chain === 'masq_checks' && typeof r.comment === 'string' && r.comment.startsWith(prefix),
  );
  // Setup writes one rule per address: fewer is a rule missing, whatever the others read like.
  if (mine.length < addrs.length) return missing(`masquerade rule not found in ${T}`, `comment ${masqComment(a)}`);
  const comment = masqComment(a);
  const have = new Set(mine.filter((r) => r.comment === comment).map((r) => masqRuleOf(r.expr)));
  for (const x of addrs) {
    if (!have.has(`saddr ${x.address} daddr != ${x.subnet}`))
      return unsure(`no rule of ${T} for ${x.address} reads as expected`);
  }
  return INTACT;
}

export class NftMasquerade implements Masquerade {
  constructor(
    private readonly runner: Runner,
    private readonly tableExists: TableProbe = nftTableExists,
  ) {}

  /** Rules of masq_checks; empty when the table does not exist. */
  private async rules(): Promise<MasqRule[]> {
    return parseMasqRules(
      (await nftRead(this.runner, ['-a', 'list', 'chain', 'inet', MASQ_TABLE, 'masq_checks'])) ?? '',
    );
  }

  private async handlesOf(a: Attachment): Promise<number[]> {
    const prefix = nftMasqHash(a.networkName, a.ifName, a.containerId);
    return (await this.rules()).filter((r) => r.comment.startsWith(prefix)).map((r) => r.handle);
  }

  async setup(a: Attachment, addrs: readonly MasqAddress[]): Promise<void> {
    if (addrs.length === 0) return;
    await nftTransact(this.runner, async () => renderNftMasqSetup(a, addrs, await this.handlesOf(a)));
  }

  /** setup's transaction for a reload pass's batch: the skeleton once, stale rules from the batch's fresh ruleset. */
  async stage(batch: RestoreBatch, a: Attachment, addrs: readonly MasqAddress[]): Promise<void> {
    if (addrs.length === 0) return;
    const skeleton = renderNftMasqSetup(a, [], []);
    await batch.nft(skeleton, async (fresh) => {
      const t = await fresh.nftTable('inet', MASQ_TABLE);
      if (!t) throw new Error('nft could not be read');
      const prefix = nftMasqHash(a.networkName, a.ifName, a.containerId);
      const handles = t.objects
        .map((o) => o['rule'] as { chain?: unknown; comment?: unknown; handle?: unknown } | undefined)
        .filter((r) => r?.chain === 'masq_checks' && typeof r.comment === 'string' && r.comment.startsWith(prefix))
        .map((r) => r?.handle)
        .filter((h): h is number => typeof h === 'number');
      return renderNftMasqSetup(a, addrs, handles).slice(skeleton.length);
    });
  }

  async teardown(a: Attachment): Promise<void> {
    // Asked over netlink first: where nobody ever used this backend, nft need not start.
    if (this.tableExists('inet', MASQ_TABLE) === false) return;
    await nftTransact(this.runner, async () => renderNftMasqDelete(await this.handlesOf(a)));
  }

  async check(a: Attachment, addrs: readonly MasqAddress[]): Promise<void> {
    if (addrs.length === 0) return;
    const table = await nftRead(this.runner, ['list', 'table', 'inet', MASQ_TABLE]);
    if (table === undefined) throw new CniError(ErrorCode.Internal, `nftables table ${T} not found`);
    if (!/\bgoto masq_checks\b/.test(table))
      throw new CniError(ErrorCode.Internal, `nftables chain postrouting of ${T} does not reach masq_checks`);
    // nft lists rules without the `==` of an equality match.
    const listed = new Set(table.split('\n').map((l) => l.trim()));
    for (const x of addrs) {
      const want = ruleFor(a, x).replace(' == ', ' ');
      if (!listed.has(want)) throw new CniError(ErrorCode.Internal, `masquerade rule not found in ${T}`, want);
    }
  }

  async inspect(a: Attachment, addrs: readonly MasqAddress[], snap: RulesetSnapshot): Promise<Finding> {
    if (addrs.length === 0) return INTACT;
    const t = await snap.nftTable('inet', MASQ_TABLE);
    return t ? nftMasqFinding(t, a, addrs) : unsure('nft could not be read');
  }

  /** Rules of this network (by the network's hash) whose comment is no kept attachment's, as the reference decides. */
  async gc(networkName: string, keep: ReadonlySet<string>): Promise<void> {
    if (this.tableExists('inet', MASQ_TABLE) === false) return;
    const prefix = `${nftMasqNetworkHash(networkName)}-`;
    const kept = new Set(
      [...keep].map((k) => {
        const [containerId = '', ifName = ''] = k.split('\u0000');
        return masqComment({ networkName, containerId, ifName });
      }),
    );
    await nftTransact(this.runner, async () =>
      renderNftMasqDelete(
        (await this.rules()).filter((r) => r.comment.startsWith(prefix) && !kept.has(r.comment)).map((r) => r.handle),
      ),
    );
  }
}
