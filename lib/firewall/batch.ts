/**
 * A reload pass's restores as one transaction per family: every broken concern of every live
 * container renders its idempotent setup into the batch, and `commit` writes them with one
 * `iptables-restore --noflush` per iptables family (its tables in one input) and one `nft -f`
 * (plus one `nft -j` for the MAC spoof checks, whose names only nft's JSON can carry).
 *
 * Renderers need the state they change (which shared chains and jumps exist, which stale rules
 * or elements to delete), so the batch reads it afresh once — `iptables-save` per family,
 * `nft -j list ruleset` — when a concern first asks, and keeps a model of each iptables table
 * that every staged change is applied to: the next concern renders from what the previous ones
 * will have written, so shared chains and jumps are declared once, never twice. nft's fixed parts
 * (a table's skeleton) are written once per batch.
 *
 * A concern's parts are rendered before any is staged: one that cannot render (a host port
 * another container holds) stages nothing and is left to its own restore. When a transaction
 * fails the caller restores the batch's concerns one by one (each setup is idempotent, so what
 * the batch did write is not doubled).
 */
import type { Family } from '../addr/ip';
import { concurrently } from '../async';
import type { Runner } from '../exec/runner';
import { restore, saveAll, splitSave, type Table } from './iptables/tables';
import { nftApply } from './nftables/nft';
import { RulesetSnapshot } from './snapshot';

const TABLE_ORDER: readonly Table[] = ['nat', 'filter'];

/** One iptables table as a model: chains in order and each chain's `-A` lines. */
class TableModel {
  private readonly chains = new Map<string, string[]>();

  constructor(save: string) {
    for (const line of save.split('\n')) {
      const decl = /^:(\S+) /.exec(line);
      if (decl?.[1]) this.chains.set(decl[1], []);
      else if (line.startsWith('-A ')) this.rulesOf(line.split(' ')[1] ?? '').push(line);
    }
  }

  private rulesOf(chain: string): string[] {
    let rules = this.chains.get(chain);
    if (!rules) {
      rules = [];
      this.chains.set(chain, rules);
    }
    return rules;
  }

  /** The table as iptables-save text (what renderers read). */
  text(): string {
    const decls = [...this.chains.keys()].map((c) => `:${c} - [0:0]`);
    return [...decls, ...[...this.chains.values()].flat()].join('\n');
  }

  /** Applies restore lines (no `*table`/COMMIT) as `iptables-restore --noflush` would. */
  apply(lines: readonly string[], builtin: (c: string) => boolean): void {
    for (const line of lines) {
      const decl = /^:(\S+) /.exec(line);
      if (decl?.[1]) {
        if (!builtin(decl[1])) this.chains.set(decl[1], []); // --noflush still empties a declared chain
        continue;
      }
      const m = /^-([NAIDFX]) (\S+)(?: (.*))?$/.exec(line);
      if (!m?.[1] || !m[2]) continue;
      const [op, chain, rest = ''] = [m[1], m[2], m[3]];
      switch (op) {
        case 'N':
          this.chains.set(chain, []);
          break;
        case 'A':
          this.rulesOf(chain).push(`-A ${chain} ${rest}`);
          break;
        case 'I': {
          const at = /^(\d+) (.*)$/.exec(rest);
          this.rulesOf(chain).splice(at ? Number(at[1]) - 1 : 0, 0, `-A ${chain} ${at ? at[2] : rest}`);
          break;
        }
        case 'D': {
          const rules = this.rulesOf(chain);
          const k = rules.indexOf(`-A ${chain} ${rest}`);
          if (k >= 0) rules.splice(k, 1);
          break;
        }
        case 'F':
          this.rulesOf(chain).length = 0;
          break;
        case 'X':
          this.chains.delete(chain);
          break;
      }
    }
  }
}

const BUILTIN: Readonly<Record<Table, readonly string[]>> = {
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** One iptables part of a concern's restore: restore text for one table, rendered from its current text. */
export interface IptablesPart {
  readonly family: Family;
  readonly table: Table;
  readonly render: (current: string) => string;
}

/** The body of restore text rendered for `table`: its lines between `*table` and COMMIT. */
function bodyOf(text: string, table: Table): string[] {
  const lines = text.split('\n').filter((l) => l !== '');
  if (lines.length === 0) return [];
  if (
    lines[0] !== `*${table}` ||
    lines[lines.length - 1] !== 'COMMIT' ||
    lines.slice(1, -1).some((l) => /^\*|^COMMIT$/.test(l))
  )
    throw new Error(`restore text for one table expected (*${table} … COMMIT)`);
  return lines.slice(1, -1);
}

export class RestoreBatch {
  /** The fresh reading the batch renders from (nft: its ruleset). */
  readonly fresh: RulesetSnapshot;
  private readonly saves = new Map<Family, Promise<Map<string, string>>>();
  private readonly models = new Map<string, TableModel>();
  private readonly staged = new Map<string, string[]>();
  private readonly nftLines: string[] = [];
  private readonly nftOnce = new Set<string>();
  private readonly jsonCommands: object[] = [];
  private readonly jsonOnce = new Set<string>();

  constructor(private readonly runner: Runner) {
    this.fresh = new RulesetSnapshot(runner);
  }

  /** Whether anything was staged. */
  get empty(): boolean {
    return this.staged.size === 0 && this.nftLines.length === 0 && this.jsonCommands.length === 0;
  }

  private async model(family: Family, table: Table): Promise<TableModel> {
    const key = `${family} ${table}`;
    let m = this.models.get(key);
    if (m) return m;
    let save = this.saves.get(family);
    if (!save) {
      save = saveAll(this.runner, family).then((s) => {
        if (s === undefined) throw new Error(`${family === 6 ? 'ip6' : 'ip'}tables-save failed`);
        return splitSave(s);
      });
      this.saves.set(family, save);
    }
    const tables = await save;
    m = this.models.get(key) ?? new TableModel(tables.get(table) ?? '');
    this.models.set(key, m);
    return m;
  }

  /** Stages a concern's iptables parts: all rendered first, then all applied (or none, when one throws). */
  async iptables(parts: readonly IptablesPart[]): Promise<void> {
    const rendered: Array<{ part: IptablesPart; model: TableModel; body: string[] }> = [];
    for (const part of parts) {
      const model = await this.model(part.family, part.table);
      rendered.push({ part, model, body: bodyOf(part.render(model.text()), part.table) });
    }
    for (const { part, model, body } of rendered) {
      if (body.length === 0) continue;
      model.apply(body, (c) => BUILTIN[part.table].includes(c));
      const key = `${part.family} ${part.table}`;
      this.staged.set(key, [...(this.staged.get(key) ?? []), ...body]);
    }
  }

  /**
   * Stages nft lines: `once`, a table's fixed part, only the first time the batch sees it (before
   * the lines that need it); `lines` renders from the fresh ruleset.
   */
  async nft(once: readonly string[], lines: (fresh: RulesetSnapshot) => Promise<readonly string[]>): Promise<void> {
    const mine = await lines(this.fresh);
    const key = once.join('\n');
    if (!this.nftOnce.has(key)) {
      this.nftOnce.add(key);
      this.nftLines.push(...once);
    }
    this.nftLines.push(...mine);
  }

  /**
   * Stages `nft -j` commands (the concerns that speak nft's JSON: names text cannot carry), in
   * one more transaction; `once` as for nft.
   */
  nftJson(once: readonly object[], commands: readonly object[]): void {
    for (const c of once) {
      const key = JSON.stringify(c);
      if (this.jsonOnce.has(key)) continue;
      this.jsonOnce.add(key);
      this.jsonCommands.push(c);
    }
    this.jsonCommands.push(...commands);
  }

  /** The iptables-restore input of one family: its tables in order, declarations first in each. */
  restoreText(family: Family): string {
    const out: string[] = [];
    for (const table of TABLE_ORDER) {
      const body = this.staged.get(`${family} ${table}`);
      if (!body || body.length === 0) continue;
      // Declarations first, as iptables-save lists them; no renderer declares a chain it appended to earlier in a batch.
      const decls = body.filter((l) => l.startsWith(':'));
      out.push(`*${table}`, ...decls, ...body.filter((l) => !l.startsWith(':')), 'COMMIT');
    }
    return out.length > 0 ? out.join('\n') + '\n' : '';
  }

  /** The nft input (one transaction). */
  nftText(): readonly string[] {
    return this.nftLines;
  }

  /** Writes everything staged: one transaction per iptables family and one for nftables, at once. */
  async commit(): Promise<void> {
    const failures: string[] = [];
    const attempt = async (what: string, write: () => Promise<void>): Promise<void> => {
      try {
        await write();
      } catch (e) {
        failures.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    await concurrently(
      attempt('iptables', () => restore(this.runner, 4, this.restoreText(4))),
      attempt('ip6tables', () => restore(this.runner, 6, this.restoreText(6))),
      attempt('nft', () => nftApply(this.runner, this.nftLines)),
      attempt('nft -j', async () => {
        // As an argument: nft's JSON reader opens /dev/stdin by name, which fails on a socket (Bun's pipes).
        if (this.jsonCommands.length > 0)
          await this.runner.run({ tool: 'nft', argv: ['-j', JSON.stringify({ nftables: this.jsonCommands })] });
      }),
    );
    if (failures.length > 0) throw new Error(failures.join('; '));
  }
}
