/**
 * The exec layer's contract. Every process tscni starts goes through a Runner: argv arrays,
 * never a shell, always a timeout. Plugins get the real one (lib/exec/real.ts); unit tests a RecordingRunner.
 */

/** Every binary tscni may start. Adding one here is a deliberate act. */
export type Tool =
  | 'ip'
  | 'bridge'
  | 'nsenter'
  | 'iptables'
  | 'ip6tables'
  | 'iptables-restore'
  | 'ip6tables-restore'
  | 'iptables-save'
  | 'ip6tables-save'
  | 'nft'
  | 'conntrack'
  | 'busctl'
  | 'podman'
  | 'dnsmasq'
  | 'plugin';

export interface Command {
  /** The tool; for 'plugin' the absolute path goes in `path`. */
  readonly tool: Tool;
  readonly argv: readonly string[];
  /** Absolute path of the executable; defaults to the tool name looked up in PATH. */
  readonly path?: string;
  readonly input?: string | Buffer;
  /** Environment for the child; defaults to the parent's. */
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  /** When true a non-zero exit is returned, not thrown. */
  readonly allowFailure?: boolean;
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface Runner {
  run(cmd: Command): Promise<ExecResult>;
}

/** A command that failed: names the command line, its exit code and what it said. */
export class ExecError extends Error {
  constructor(
    readonly commandLine: string,
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
    reason?: string,
  ) {
    const why = reason ?? `exit code ${exitCode ?? 'unknown'}`;
    const said = stderr.trim() || stdout.trim();
    super(`command failed (${why}): ${commandLine}${said ? `: ${said.slice(0, 2000)}` : ''}`);
    this.name = 'ExecError';
  }
}

/** Renders argv for messages, quoting only what needs it (never used to run anything). */
export function formatCommandLine(file: string, argv: readonly string[]): string {
  const q = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [file, ...argv].map(q).join(' ');
}
