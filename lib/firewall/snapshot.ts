/**
 * One reading of the host's firewall for a `tscni reload` pass, shared by every concern of every
 * container the pass looks at: `iptables-save` once per family (all tables in one process) and
 * `nft -j list ruleset` once, each read only when a concern first asks for it. A pass over N
 * intact containers so starts at most three programs instead of several per container.
 *
 * What a concern concludes from it is a Finding: intact, broken (the snapshot shows a rule or
 * element missing in the same terms as the concern's CHECK decides it, or something its setup
 * finds by name is absent), or unsure — the snapshot cannot tell (the program could not be read,
 * firewalld's bindings are only asked over D-Bus, the iptables masquerade rules are matched as
 * text where CHECK asks the kernel). Unsure leaves the decision to the concern's own check, so
 * a text that reads differently from what we render costs a program, never a needless restore.
 *
 * A pass judges every concern before it restores any, so no judgement reads a snapshot its own
 * pass has made stale; the restores render from a fresh reading of their own (lib/firewall/batch.ts,
 * or each setup's read when restored alone). A change made after the snapshot was read wakes the
 * watcher again (or waits for the next reload).
 */
import type { Family } from '../addr/ip';
import type { Runner } from '../exec/runner';
import { indexTable, saveAll, splitSave, type IndexedTable, type Table } from './iptables/tables';

export type Finding =
  | { readonly state: 'intact' }
  | { readonly state: 'broken'; readonly detail: string }
  | { readonly state: 'unsure'; readonly detail: string };

export const INTACT: Finding = { state: 'intact' };
export const brokenBy = (e: unknown): Finding => ({
  state: 'broken',
  detail: e instanceof Error ? e.message : String(e),
});
export const unsure = (detail: string): Finding => ({ state: 'unsure', detail });

/** The findings of a concern's parts as one: the first broken, else the first unsure, else intact. */
export function combine(findings: readonly Finding[]): Finding {
  return findings.find((f) => f.state === 'broken') ?? findings.find((f) => f.state === 'unsure') ?? INTACT;
}

type Json = Record<string, unknown>;

/** One nftables table as `nft -j list table` would list it. */
export interface NftTableListing {
  readonly exists: boolean;
  /** Its objects (the table, its chains, rules, sets, maps…), each as `{ kind: {…} }`. */
  readonly objects: readonly Json[];
}

/** The family and table an object of `nft -j list ruleset` belongs to (a table: its own name). */
function placeOf(obj: Json): string | undefined {
  for (const [kind, v] of Object.entries(obj)) {
    if (kind === 'metainfo' || typeof v !== 'object' || v === null) continue;
    const o = v as { family?: unknown; table?: unknown; name?: unknown };
    const table = kind === 'table' ? o.name : o.table;
    if (typeof o.family === 'string' && typeof table === 'string') return `${o.family} ${table}`;
  }
  return undefined;
}

/** `nft -j list ruleset` output grouped per table (`<family> <name>`). */
export function groupRuleset(json: string): Map<string, Json[]> {
  const doc = JSON.parse(json) as { nftables?: unknown };
  const out = new Map<string, Json[]>();
  for (const obj of Array.isArray(doc.nftables) ? (doc.nftables as unknown[]) : []) {
    if (typeof obj !== 'object' || obj === null) continue;
    const at = placeOf(obj as Json);
    if (at === undefined) continue;
    const list = out.get(at) ?? [];
    list.push(obj as Json);
    out.set(at, list);
  }
  return out;
}

/** The text of `nft -j list table` for one table of the snapshot, for the parsers that take that. */
export const listingJson = (t: NftTableListing): string => JSON.stringify({ nftables: t.objects });

export class RulesetSnapshot {
  private readonly memos = new Map<string, Promise<unknown>>();

  constructor(private readonly runner: Runner) {}

  /**
   * What `compute` gives, computed once per snapshot: the readings themselves, and what concerns
   * derive from them (an index of a table's elements) or ask once per pass (is firewalld running).
   */
  memo<T>(key: string, compute: () => Promise<T> | T): Promise<T> {
    let p = this.memos.get(key) as Promise<T> | undefined;
    if (!p) {
      p = Promise.resolve().then(compute);
      this.memos.set(key, p);
    }
    return p;
  }

  /** One table of `iptables-save` (ip6tables-save for 6); a table the host lacks is empty; undefined when unreadable. */
  iptables(family: Family, table: Table): Promise<IndexedTable | undefined> {
    return this.memo(`iptables ${family} ${table}`, async () => {
      const tables = await this.memo(`iptables-save ${family}`, async () => {
        const save = await saveAll(this.runner, family);
        return save === undefined ? undefined : splitSave(save);
      });
      return tables === undefined ? undefined : indexTable(tables.get(table) ?? '');
    });
  }

  /** One table of `nft -j list ruleset`; undefined when nft could not be read. */
  nftTable(family: string, name: string): Promise<NftTableListing | undefined> {
    return this.memo(`nft ${family} ${name}`, async () => {
      const tables = await this.memo('nft ruleset', async () => {
        const r = await this.runner
          .run({ tool: 'nft', argv: ['-j', 'list', 'ruleset'], allowFailure: true })
          .catch(() => undefined);
        if (r?.exitCode !== 0) return undefined;
        try {
          return groupRuleset(r.stdout);
        } catch {
          return undefined; // not the JSON we know: every nftables concern is checked on its own
        }
      });
      if (tables === undefined) return undefined;
      const objects = tables.get(`${family} ${name}`) ?? [];
      return { exists: objects.some((o) => 'table' in o), objects };
    });
  }
}
