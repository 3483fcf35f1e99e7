/**
 * Command-line arguments of the CLI and the installer: node:util's parseArgs (Bun has the same),
 * strict, so an unknown option, a missing value or a stray argument is an error; its errors
 * become UsageErrors worded like ours. `--help` is an option like any other.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Bad usage: the command prints the message (and its usage) and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true; tokens: true }>
>;

/** The option a parseArgs message quotes ('--bin-dir' of "Option '--bin-dir <value>' argument missing"). */
const quoted = (message: string): string => /'([^' ]+)[^']*'/.exec(message)?.[1] ?? '';

/** Parses `argv` (without the command words); positionals are refused unless `positionals` is true. */
export function parseArgv<O extends Options>(argv: readonly string[], options: O, positionals = false): Parsed<O> {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    const { code, message } = e as { code?: string; message: string };
    const what = quoted(message);
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${what}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
      throw new UsageError(/does not take/.test(message) ? `${what} takes no value` : `${what} needs a value`);
    throw new UsageError(message);
  }
  if (!positionals && parsed.positionals.length > 0)
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`);
  return parsed;
}
