import { spawn } from 'node:child_process';
import { debug } from '../log';
import { Command, ExecError, ExecResult, Runner, formatCommandLine } from './runner';

const DEFAULT_TIMEOUT_MS = 30_000;
/** Kernel tools print little; a cap keeps a runaway child from eating memory. */
const MAX_OUTPUT = 16 * 1024 * 1024;

/** Runs commands for real: spawn without a shell, a timeout, stdout/stderr captured. */
export class RealRunner implements Runner {
  run(cmd: Command): Promise<ExecResult> {
    const file = cmd.path ?? cmd.tool;
    const line = formatCommandLine(file, cmd.argv);
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(file, cmd.argv, {
        shell: false,
        env: cmd.env ?? process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      let failure: string | undefined;
      const timer = setTimeout(() => {
        failure = `timed out after ${cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`;
        child.kill('SIGKILL');
      }, cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      const collect = (sink: Buffer[]) => (b: Buffer) => {
        size += b.length;
        if (size > MAX_OUTPUT) {
          failure = 'output too large';
          child.kill('SIGKILL');
          return;
        }
        sink.push(b);
      };
      child.stdout.on('data', collect(out));
      child.stderr.on('data', collect(err));
      child.stdin.on('error', () => undefined); // a child that exits without reading stdin is fine
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why = e.code === 'ENOENT' ? `${file} not found` : e.message;
        reject(new ExecError(line, null, '', '', why));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        debug(`exec ${Date.now() - started} ms: ${line}`);
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = Buffer.concat(err).toString('utf8');
        if (failure !== undefined) return reject(new ExecError(line, code, stdout, stderr, failure));
        const exitCode = code ?? -1;
        if (exitCode !== 0 && !cmd.allowFailure) return reject(new ExecError(line, exitCode, stdout, stderr));
        resolve({ stdout, stderr, exitCode });
      });
      child.stdin.end(cmd.input ?? '');
    });
  }
}

let shared: Runner | undefined;
/** The process-wide runner; tests may replace it with `setRunner`. */
export function defaultRunner(): Runner {
  return (shared ??= new RealRunner());
}
export function setRunner(r: Runner | undefined): void {
  shared = r;
}
