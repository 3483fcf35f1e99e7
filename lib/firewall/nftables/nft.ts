/** Running `nft`: one `nft -f -` transaction per change, and reads that tolerate a missing table. */
import type { Runner } from '../../exec/runner';

/** Applies `lines` as one transaction; nothing when there are none. */
export async function nftApply(runner: Runner, lines: readonly string[]): Promise<void> {
  if (lines.length > 0) await runner.run({ tool: 'nft', argv: ['-f', '-'], input: lines.join('\n') + '\n' });
}

/** `nft <args>` output, or undefined when nft says no (typically: the table or chain does not exist). */
export async function nftRead(runner: Runner, args: readonly string[]): Promise<string | undefined> {
  const r = await runner.run({ tool: 'nft', argv: args, allowFailure: true });
  return r.exitCode === 0 ? r.stdout : undefined;
}
