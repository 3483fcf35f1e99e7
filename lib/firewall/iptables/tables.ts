/**
 * Reading and writing iptables tables in iptables-save format. A full `iptables-save` costs time
 * in proportion to every rule on the host (~40 ms with 500 containers' rules), so verbs that only
 * touch a few known chains list just those chains (`iptables -S <chain>`, all at once) and get the
 * same format back. Every write is one `iptables-restore --noflush` transaction per family.
 */
import type { Family } from '../../addr/ip';
import type { Runner } from '../../exec/runner';
import { concurrently } from '../../async';

export type Table = 'nat' | 'filter';

/** `iptables-save -t <table>` (or ip6tables); empty when the table cannot be read. */
export async function saveTable(runner: Runner, family: Family, table: Table): Promise<string> {
  const r = await runner.run({
    tool: family === 6 ? 'ip6tables-save' : 'iptables-save',
    argv: ['-t', table],
    allowFailure: true,
  });
  return r.exitCode === 0 ? r.stdout : '';
}

/** `iptables -S` output of one chain in save format: `-N X` → `:X - [0:0]`, `-P X P` → `:X P [0:0]`. */
export function toSaveFormat(listing: string): string {
  return listing
    .split('\n')
    .map((l) => {
      const n = /^-N (\S+)$/.exec(l);
      if (n) return `:${n[1]} - [0:0]`;
      const p = /^-P (\S+) (\S+)$/.exec(l);
      if (p) return `:${p[1]} ${p[2]} [0:0]`;
      return l;
    })
    .join('\n');
}

/**
 * The given chains in iptables-save format. Missing chains are left out, and so is everything
 * when the tool is missing or unusable: callers tell that case by a built-in chain they asked for
 * being absent.
 */
export async function listChains(
  runner: Runner,
  family: Family,
  table: Table,
  chains: readonly string[],
): Promise<string> {
  const tool = family === 6 ? 'ip6tables' : 'iptables';
  const listings = await concurrently(
    ...chains.map(async (chain) => {
      const r = await runner
        .run({ tool, argv: ['-w', '5', '-t', table, '-S', chain], allowFailure: true })
        .catch(() => undefined);
      return r?.exitCode === 0 ? toSaveFormat(r.stdout) : '';
    }),
  );
  return listings.filter((l) => l !== '').join('\n');
}

/** `iptables-restore --noflush` with `text` (which names its table); nothing when empty. */
export async function restore(runner: Runner, family: Family, text: string): Promise<void> {
  if (text)
    await runner.run({
      tool: family === 6 ? 'ip6tables-restore' : 'iptables-restore',
      argv: ['--noflush', '-w', '10'],
      input: text,
    });
}

/**
 * Checks that every `-A` rule of `rules` is in `table`, in one process: iptables-restore
 * `--noflush` with `-C` lines changes nothing and fails at the first missing rule, naming its
 * line. Resolves to that rule (as given), or undefined when all are there. Cheaper than listing
 * the chains (one process per chain) and exact as the kernel compares, not as text.
 */
export async function firstMissingRule(
  runner: Runner,
  family: Family,
  table: Table,
  rules: readonly string[],
): Promise<string | undefined> {
  const wanted = rules.filter((r) => r.startsWith('-A '));
  if (wanted.length === 0) return undefined;
  const r = await runner.run({
    tool: family === 6 ? 'ip6tables-restore' : 'iptables-restore',
    argv: ['--noflush', '-w', '10'],
    input: `*${table}\n${wanted.map((w) => `-C ${w.slice(3)}`).join('\n')}\nCOMMIT\n`,
    allowFailure: true,
  });
  if (r.exitCode === 0) return undefined;
  // "iptables-restore: line 3 failed: ..."; line 1 is the table.
  const line = /line (\d+) failed/.exec(r.stderr);
  const missing = line ? wanted[Number(line[1]) - 2] : undefined;
  if (missing !== undefined) return missing;
  throw new Error(`${family === 6 ? 'ip6tables-restore' : 'iptables-restore'} failed: ${r.stderr.trim()}`);
}

/**
 * `iptables-save` of every table of one family in one process (a reload pass reads the tables
 * once for all its containers); undefined when it cannot be read (the tool is missing or fails).
 */
export async function saveAll(runner: Runner, family: Family): Promise<string | undefined> {
  const r = await runner
    .run({ tool: family === 6 ? 'ip6tables-save' : 'iptables-save', argv: [], allowFailure: true })
    .catch(() => undefined);
  return r?.exitCode === 0 ? r.stdout : undefined;
}

/** iptables-save text of several tables split per table (`*nat` … `COMMIT`); comments dropped. */
export function splitSave(save: string): Map<string, string> {
  const out = new Map<string, string>();
  let table: string | undefined;
  let lines: string[] = [];
  for (const line of save.split('\n')) {
    const start = /^\*(\S+)$/.exec(line);
    if (start?.[1]) {
      table = start[1];
      lines = [];
    } else if (line === 'COMMIT') {
      if (table !== undefined) out.set(table, lines.join('\n'));
      table = undefined;
    } else if (table !== undefined && !line.startsWith('#')) lines.push(line);
  }
  return out;
}

/** A table (or some of its chains) in iptables-save format, indexed for the checks. */
export interface IndexedTable {
  readonly chains: ReadonlySet<string>;
  /** Every `-A` line, in order. */
  readonly rules: readonly string[];
  /** The same lines, for lookups. */
  readonly ruleSet: ReadonlySet<string>;
  /** The `-A` lines of each chain, in order. */
  rulesOf(chain: string): readonly string[];
}

export function indexTable(save: string): IndexedTable {
  const { chains, rules } = parseSave(save);
  const byChain = new Map<string, string[]>();
  for (const r of rules) {
    const chain = r.slice(3, r.indexOf(' ', 3) < 0 ? undefined : r.indexOf(' ', 3));
    const list = byChain.get(chain) ?? [];
    list.push(r);
    byChain.set(chain, list);
  }
  return { chains, rules, ruleSet: new Set(rules), rulesOf: (chain) => byChain.get(chain) ?? [] };
}

/** Lines of iptables-save text split into chain declarations and rules. */
export function parseSave(save: string): { chains: Set<string>; rules: string[] } {
  const chains = new Set<string>();
  const rules: string[] = [];
  for (const line of save.split('\n')) {
    const d = /^:(\S+) /.exec(line);
    if (d?.[1]) chains.add(d[1]);
    else if (line.startsWith('-A ')) rules.push(line);
  }
  return { chains, rules };
}

/**
 * iptables-restore text removing the given chains and every rule that jumps to them, from
 * iptables-save text of `table`. Empty when none of the chains exist.
 */
export function renderChainRemoval(table: Table, save: string, chains: ReadonlySet<string>): string {
  const present = new Set<string>();
  const dels: string[] = [];
  for (const line of save.split('\n')) {
    const decl = /^:(\S+) /.exec(line);
    if (decl?.[1] && chains.has(decl[1])) present.add(decl[1]);
    const jump = /^-A (\S+) (.*)-j (\S+)\s*$/.exec(line);
    if (jump?.[3] && chains.has(jump[3]) && !chains.has(jump[1] ?? ''))
      dels.push(`-D ${jump[1]} ${jump[2]}-j ${jump[3]}`);
  }
  if (present.size === 0) return '';
  const out = [`*${table}`, ...dels];
  for (const ch of present) out.push(`-F ${ch}`);
  for (const ch of present) out.push(`-X ${ch}`);
  out.push('COMMIT', '');
  return out.join('\n');
}

/**
 * Read, render, write: `read` lists what the change depends on and `render` turns that into one
 * restore. Chains are created with `-N` (a `:CHAIN` line would flush a chain that exists), so a
 * concurrent writer makes the restore fail as a whole instead of losing its rules; then the
 * state is read again and the change rendered afresh, a few times at most.
 */
export async function transact(
  runner: Runner,
  family: Family,
  read: () => Promise<string>,
  render: (current: string) => string,
  attempts = 5,
): Promise<void> {
  for (let i = 1; ; i++) {
    const text = render(await read());
    try {
      await restore(runner, family, text);
      return;
    } catch (e) {
      // The messages of iptables-legacy and iptables-nft for: the chain exists, the rule or chain is
      // gone, the chain is not empty.
      const raced =
        /chain already exists|file exists|does a matching rule exist|no such file or directory|no chain\/target\/match|resource busy|not empty/i.test(
          (e as Error).message,
        );
      if (!raced || i >= attempts) throw e;
      // A little jitter, so writers that collided do not collide again in lockstep.
      await new Promise((res) => setTimeout(res, 5 + Math.floor(Math.random() * 20 * i)));
    }
  }
}
