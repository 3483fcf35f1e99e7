import { Command, ExecError, ExecResult, Runner, formatCommandLine } from './runner';

type Reply = Partial<ExecResult>;
type Matcher = (cmd: Command) => boolean;

/**
 * A Runner for unit tests: records every command and answers from a script.
 * Unmatched commands succeed with empty output.
 */
export class RecordingRunner implements Runner {
  readonly calls: Command[] = [];
  private readonly script: Array<{ match: Matcher; reply: Reply | ((cmd: Command) => Reply) }> = [];

  on(match: Matcher, reply: Reply | ((cmd: Command) => Reply)): this {
    this.script.push({ match, reply });
    return this;
  }

  /** The recorded command lines, for compact assertions. */
  lines(): string[] {
    return this.calls.map((c) => formatCommandLine(c.path ?? c.tool, c.argv));
  }

  async run(cmd: Command): Promise<ExecResult> {
    this.calls.push(cmd);
    const entry = this.script.find((s) => s.match(cmd));
    const r = entry ? (typeof entry.reply === 'function' ? entry.reply(cmd) : entry.reply) : {};
    const res: ExecResult = { stdout: r.stdout ?? '', stderr: r.stderr ?? '', exitCode: r.exitCode ?? 0 };
    if (res.exitCode !== 0 && !cmd.allowFailure) {
      throw new ExecError(formatCommandLine(cmd.path ?? cmd.tool, cmd.argv), res.exitCode, res.stdout, res.stderr);
    }
    return res;
  }
}
