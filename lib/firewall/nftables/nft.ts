/** Running `nft`: one `nft -f -` transaction per change, and reads that tolerate a missing table. */
import type { Runner } from '../../exec/runner';
import type { NftFamily } from '../../netlink/nftables';
import { addrText, nftString, portText, protocolText } from '../text';

/**
 * Whether a table exists, asked without starting nft (lib/netlink/nftables.ts); undefined when
 * that cannot tell, and nft is asked as before. Teardown and GC skip nft on `false`.
 */
export type TableProbe = (family: NftFamily, name: string) => boolean | undefined;

/** Applies `lines` as one transaction; nothing when there are none. */
export async function nftApply(runner: Runner, lines: readonly string[]): Promise<void> {
  if (lines.length > 0) await runner.run({ tool: 'nft', argv: ['-f', '-'], input: lines.join('\n') + '\n' });
}

/**
 * Reads, renders and applies one transaction. When it fails because something it names (a rule
 * handle, an element, the table) vanished meanwhile — a concurrent DEL, a flush of the ruleset —
 * the state is read and the change rendered afresh, a few times at most.
 */
export async function nftTransact(
  runner: Runner,
  render: () => Promise<readonly string[]>,
  attempts = 3,
): Promise<void> {
  for (let i = 1; ; i++) {
    const lines = await render();
    try {
      await nftApply(runner, lines);
      return;
    } catch (e) {
      if (i >= attempts || !/No such file or directory/i.test((e as Error).message)) throw e;
    }
  }
}

/** `nft <args>` output, or undefined when nft says no (typically: the table or chain does not exist). */
export async function nftRead(runner: Runner, args: readonly string[]): Promise<string | undefined> {
  const r = await runner.run({ tool: 'nft', argv: args, allowFailure: true });
  return r.exitCode === 0 ? r.stdout : undefined;
}

// ---- reading sets and maps back (nft -j list table) ----

type Json = string | number | { concat?: Json[] } | Record<string, unknown>;
export interface NftElement {
  readonly set: string;
  /** The key as nft text, ready for `delete element`. */
  readonly key: string;
  /** Key parts as listed (addresses, protocol names, ports, interface names). */
  readonly parts: ReadonlyArray<string | number>;
  readonly value: ReadonlyArray<string | number> | undefined;
  readonly comment: string;
}

const partsOf = (v: unknown): Array<string | number> => {
  if (typeof v === 'string' || typeof v === 'number') return [v];
  if (v && typeof v === 'object' && Array.isArray((v as { concat?: unknown }).concat))
    return (v as { concat: unknown[] }).concat.flatMap(partsOf);
  return [];
};

/** One key part as nft text, by the set's type; undefined when it has no safe form (never one of ours). */
function partText(type: string, part: string | number): string | undefined {
  try {
    switch (type) {
      case 'ipv4_addr':
      case 'ipv6_addr':
        return addrText(String(part));
      case 'inet_service':
        return portText(Number(part));
      case 'inet_proto':
        return typeof part === 'number' ? String(part) : protocolText(part);
      case 'ifname':
        return nftString(String(part), 'interface name');
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/**
 * Every element of a table's maps and sets, from `nft -j list table` output, with its key
 * rendered back to nft text through lib/firewall/text.ts (an element whose key has no safe form
 * is left out: tscni never wrote it).
 */
export function parseElements(json: string): NftElement[] {
  const doc = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
  return elementsOf(doc.nftables ?? []);
}

/** The elements of the maps and sets among a listing's objects (parseElements without the parse). */
export function elementsOf(objects: ReadonlyArray<Record<string, unknown>>): NftElement[] {
  const out: NftElement[] = [];
  for (const obj of objects) {
    const s = (obj['map'] ?? obj['set']) as { name?: string; type?: unknown; elem?: unknown[] } | undefined;
    if (!s?.name || !Array.isArray(s.elem)) continue;
    const types = (Array.isArray(s.type) ? s.type : [s.type]).map(String);
    for (const e of s.elem) {
      const [k, v] = Array.isArray(e) ? [e[0], e[1]] : [e, undefined];
      const inner = (k as { elem?: { val?: unknown; comment?: string } }).elem;
      const val = inner ? inner.val : k;
      const parts = partsOf(val);
      const texts = parts.map((p, i) => partText(types[i] ?? '', p));
      if (parts.length !== types.length || texts.some((t) => t === undefined)) continue;
      out.push({
        set: s.name,
        key: texts.join(' . '),
        parts,
        value: v === undefined ? undefined : partsOf(v as Json),
        comment: inner?.comment ?? '',
      });
    }
  }
  return out;
}
