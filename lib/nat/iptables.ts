/**
 * Reading and writing the iptables nat table in iptables-save format. A full `iptables-save`
 * costs time in proportion to every rule on the host (~40 ms with 500 containers' rules), so
 * verbs that only touch a few known chains list just those chains (`iptables -S <chain>`, all at
 * once) and get the same format back.
 */
import { defaultRunner } from '../exec/real';
import { concurrently } from '../undo';

/** `iptables-save -t nat` (or ip6tables); empty when the table cannot be read. */
export async function saveNat(six: boolean): Promise<string> {
  const r = await defaultRunner().run({
    tool: six ? 'ip6tables-save' : 'iptables-save',
    argv: ['-t', 'nat'],
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
 * The given nat chains in iptables-save format. Missing chains are left out, and so is
 * everything when the tool is missing or unusable: callers tell that case by a built-in chain
 * they asked for being absent.
 */
export async function listNatChains(six: boolean, chains: readonly string[]): Promise<string> {
  const tool = six ? 'ip6tables' : 'iptables';
  const listings = await concurrently(
    ...chains.map(async (chain) => {
      const r = await defaultRunner()
        .run({ tool, argv: ['-w', '5', '-t', 'nat', '-S', chain], allowFailure: true })
        .catch(() => undefined);
      return r?.exitCode === 0 ? toSaveFormat(r.stdout) : '';
    }),
  );
  return listings.filter((l) => l !== '').join('\n');
}

/** `iptables-restore --noflush` with `text`; nothing when empty. */
export async function restoreNat(six: boolean, text: string): Promise<void> {
  if (text)
    await defaultRunner().run({
      tool: six ? 'ip6tables-restore' : 'iptables-restore',
      argv: ['--noflush', '-w', '10'],
      input: text,
    });
}
