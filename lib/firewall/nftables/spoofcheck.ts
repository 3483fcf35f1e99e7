/**
 * MAC spoof check for a bridge port (bridge `macspoofchk`), nftables only (bridge family), with the
 * reference's names so either implementation can remove the other's: table `bridge nat`, base chain PREROUTING, per attachment
 * chains `cni-br-iface-<id>-<ifname>` and `…-mac`, every rule commented `macspoofchk-<id>-<ifname>`.
 * Frames entering from the container's port with another source MAC are dropped.
 *
 * The chain names hold the interface name, which may contain any byte Linux allows in one
 * (`"`, `;`, `{`, …) while nft's text syntax takes only bare words as chain names. So this
 * concern speaks nft's JSON, as the reference does (go-nft): setup is one `nft -j` whose
 * strings JSON escapes; teardown and GC read the table as JSON and delete rules and chains by
 * handle, so no name is ever written back. Bytes that are not UTF-8 are written as U+FFFD, as
 * Go's JSON encoder writes them, so both implementations name such chains alike.
 */
import { CniError, ErrorCode } from '../../cni/errors';
import type { Runner } from '../../exec/runner';
import type { RestoreBatch } from '../batch';
import { goJsonText } from '../../sys/raw-text';
import { nftRead, nftTransact } from './nft';
import { brokenBy, INTACT, unsure, type Finding, type RulesetSnapshot } from '../snapshot';

const FAMILY = 'bridge';
const TABLE = 'nat';
const BASE = 'PREROUTING';

export const spoofRef = (containerId: string, ifName: string): string => goJsonText(`${containerId}-${ifName}`);
const chains = (ref: string): [string, string] => [`cni-br-iface-${ref}`, `cni-br-iface-${ref}-mac`];
const commentOf = (ref: string): string => `macspoofchk-${ref}`;

type Expr = Record<string, unknown>;
interface Rule {
  readonly chain: string;
  readonly expr: readonly Expr[];
  readonly comment: string;
}

/** The attachment's four rules, as nft lists them in JSON. */
function rulesOf(ref: string, hostVeth: string, mac: string): Rule[] {
  const [iface, macChain] = chains(ref);
  const comment = commentOf(ref);
  return [
    {
      chain: BASE,
      expr: [
        { match: { op: '==', left: { meta: { key: 'iifname' } }, right: goJsonText(hostVeth) } },
        { jump: { target: iface } },
      ],
      comment,
    },
    { chain: iface, expr: [{ jump: { target: macChain } }], comment },
    {
      chain: macChain,
      expr: [
        { match: { op: '==', left: { payload: { protocol: 'ether', field: 'saddr' } }, right: mac } },
        { return: null },
      ],
      comment,
    },
    { chain: macChain, expr: [{ drop: null }], comment },
  ];
}

/** The `nft -j` commands that set the check up: the table and base chain, then the attachment's chains (flushed) and rules. */
function setupCommands(ref: string, hostVeth: string, mac: string): { skeleton: object[]; own: object[] } {
  const [iface, macChain] = chains(ref);
  const at = { family: FAMILY, table: TABLE };
  const rules = rulesOf(ref, hostVeth, mac);
  return {
    skeleton: [
      { add: { table: { family: FAMILY, name: TABLE } } },
      { add: { chain: { ...at, name: BASE, type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } } },
    ],
    own: [
      { add: { chain: { ...at, name: iface } } },
      { add: { chain: { ...at, name: macChain } } },
      { flush: { chain: { ...at, name: iface } } },
      { flush: { chain: { ...at, name: macChain } } },
      ...[rules[1], rules[2], rules[3], rules[0]].map((r) => ({ add: { rule: { ...at, ...r } } })),
    ],
  };
}

/** The `nft -j` document that sets the check up (chains flushed first, so a repeated ADD leaves one copy). */
export function renderSpoofcheckSetup(ref: string, hostVeth: string, mac: string): string {
  const { skeleton, own } = setupCommands(ref, hostVeth, mac);
  const commands = [...skeleton, ...own];
  // One command a line: readable in golden files and in debug logs.
  return `{"nftables": [\n${commands.map((c) => JSON.stringify(c)).join(',\n')}\n]}\n`;
}

/**
 * The restore (teardown, then setup) for a reload pass's batch, where the batch's fresh ruleset
 * shows nothing of the attachment's check (after a flush): then it is setup alone. Anything left
 * of it (a half-flushed check) is replaced on its own, by handle, as restore does.
 */
export async function stageSpoofcheck(batch: RestoreBatch, ref: string, hostVeth: string, mac: string): Promise<void> {
  const t = await batch.fresh.nftTable(FAMILY, TABLE);
  if (!t) throw new Error('nft could not be read');
  const listed = listingOf(t.objects);
  const [iface, macChain] = chains(ref);
  if (
    listed.chains.some((c) => c.name === iface || c.name === macChain) ||
    listed.rules.some((r) => r.comment === commentOf(ref))
  )
    throw new Error('part of the check is there: replaced on its own');
  const { skeleton, own } = setupCommands(ref, hostVeth, mac);
  batch.nftJson(skeleton, own);
}

interface Listed {
  readonly rules: Array<Rule & { handle: number }>;
  readonly chains: Array<{ name: string; handle: number }>;
}

/** Rules and chains of `nft -j list table bridge nat` output. */
export function parseListing(json: string): Listed {
  if (json.trim() === '') return { rules: [], chains: [] };
  const doc = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
  return listingOf(doc.nftables ?? []);
}

/** parseListing of a listing's objects. */
export function listingOf(objects: ReadonlyArray<Record<string, unknown>>): Listed {
  const out: Listed = { rules: [], chains: [] };
  for (const obj of objects) {
    const c = obj['chain'] as { name?: unknown; handle?: unknown } | undefined;
    if (typeof c?.name === 'string' && typeof c.handle === 'number')
      out.chains.push({ name: c.name, handle: c.handle });
    const r = obj['rule'] as { chain?: unknown; handle?: unknown; expr?: unknown; comment?: unknown } | undefined;
    if (typeof r?.chain === 'string' && typeof r.handle === 'number')
      out.rules.push({
        chain: r.chain,
        handle: r.handle,
        expr: Array.isArray(r.expr) ? (r.expr as Expr[]) : [],
        comment: typeof r.comment === 'string' ? r.comment : '',
      });
  }
  return out;
}

const PREFIX = 'cni-br-iface-';
const refOfComment = (comment: string): string | undefined =>
  comment.startsWith('macspoofchk-') ? comment.slice('macspoofchk-'.length) : undefined;

/**
 * Whose spoof-check chain this is: the ref in its rules' comments; for an empty chain (a setup
 * interrupted between creating and filling it), its name — `cni-br-iface-x-mac` is the -mac
 * chain of ref `x` when `cni-br-iface-x` exists, else the iface chain of ref `x-mac`.
 */
function ownerOfChain(name: string, listed: Listed, names: ReadonlySet<string>): string | undefined {
  if (!name.startsWith(PREFIX)) return undefined;
  for (const r of listed.rules) {
    const ref = r.chain === name ? refOfComment(r.comment) : undefined;
    if (ref !== undefined) return ref;
  }
  const rest = name.slice(PREFIX.length);
  return rest.endsWith('-mac') && names.has(name.slice(0, -'-mac'.length)) ? rest.slice(0, -'-mac'.length) : rest;
}

/** `delete` lines, by handle, for the attachments whose ref `stale` accepts. */
export function renderSpoofcheckTeardown(listed: Listed, stale: (ref: string) => boolean): string[] {
  const out: string[] = [];
  for (const r of listed.rules) {
    const ref = refOfComment(r.comment);
    if (r.chain === BASE && ref !== undefined && stale(ref))
      out.push(`delete rule ${FAMILY} ${TABLE} ${BASE} handle ${r.handle}`);
  }
  const names = new Set(listed.chains.map((c) => c.name));
  const doomed = listed.chains.filter((c) => {
    const ref = ownerOfChain(c.name, listed, names);
    return ref !== undefined && stale(ref);
  });
  // The iface chain jumps to the -mac chain: it goes first.
  const jumpsTo = (c: { name: string }): boolean => doomed.some((d) => d.name === `${c.name}-mac`);
  for (const c of [...doomed].sort((a, b) => Number(jumpsTo(b)) - Number(jumpsTo(a))))
    out.push(`delete chain ${FAMILY} ${TABLE} handle ${c.handle}`);
  return out;
}

const listing = async (runner: Runner): Promise<Listed> =>
  parseListing((await nftRead(runner, ['-j', 'list', 'table', FAMILY, TABLE])) ?? '');

export async function setupSpoofcheck(runner: Runner, ref: string, hostVeth: string, mac: string): Promise<void> {
  // As an argument: nft's JSON reader opens /dev/stdin by name, which fails on a socket (Bun's pipes).
  await runner.run({ tool: 'nft', argv: ['-j', renderSpoofcheckSetup(ref, hostVeth, mac)] });
}

export async function teardownSpoofcheck(runner: Runner, ref: string): Promise<void> {
  await nftTransact(runner, async () => renderSpoofcheckTeardown(await listing(runner), (r) => r === ref));
}

/** GC: spoof checks of attachments (refs `<id>-<ifname>`) not in `keep`. */
export async function gcSpoofcheck(runner: Runner, keep: ReadonlySet<string>): Promise<void> {
  await nftTransact(runner, async () => renderSpoofcheckTeardown(await listing(runner), (r) => !keep.has(r)));
}

const ruleKey = (r: Rule): string => `${r.chain}\n${r.comment}\n${JSON.stringify(r.expr)}`;

/** What the attachment's spoof check lacks among the table's rules (as ruleKey gives them); undefined when nothing. */
function spoofProblem(have: ReadonlySet<string>, ref: string, hostVeth: string, mac: string): CniError | undefined {
  for (const rule of rulesOf(ref, hostVeth, mac))
    if (!have.has(ruleKey(rule)))
      return new CniError(
        ErrorCode.Internal,
        'MAC spoof check rule not found in table bridge nat',
        `chain ${rule.chain}: ${JSON.stringify(rule.expr)} comment ${JSON.stringify(rule.comment)}`,
      );
  return undefined;
}

/** Throws when the attachment's spoof check is not complete (its jump, its chains and their rules). */
export async function checkSpoofcheck(runner: Runner, ref: string, hostVeth: string, mac: string): Promise<void> {
  const problem = spoofProblem(new Set((await listing(runner)).rules.map(ruleKey)), ref, hostVeth, mac);
  if (problem) throw problem;
}

/** checkSpoofcheck's judgement on a reload pass's ruleset (the table's rules indexed once per pass). */
export async function inspectSpoofcheck(
  snap: RulesetSnapshot,
  ref: string,
  hostVeth: string,
  mac: string,
): Promise<Finding> {
  const have = await snap.memo(`index ${FAMILY} ${TABLE}`, async () => {
    const t = await snap.nftTable(FAMILY, TABLE);
    return t === undefined ? undefined : new Set(listingOf(t.objects).rules.map(ruleKey));
  });
  if (have === undefined) return unsure('nft could not be read');
  const problem = spoofProblem(have, ref, hostVeth, mac);
  return problem ? brokenBy(problem) : INTACT;
}
