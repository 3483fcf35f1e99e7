import { debug } from '../log';
import { rawBytes, rawString } from '../sys/raw-text';
import { Command, ExecError, ExecResult, Runner, formatCommandLine } from './runner';

const DEFAULT_TIMEOUT_MS = 30_000;
/** Kernel tools print little; a cap keeps a runaway child from eating memory. */
const MAX_OUTPUT = 16 * 1024 * 1024;

/** Text goes to a child as bytes and comes back from it as bytes: names keep theirs (lib/sys/raw-text.ts). */
const inputBytes = (input: string | Buffer | undefined): Buffer | undefined =>
  typeof input === 'string' ? rawBytes(input) : input;
const text = async (stream: ReadableStream<Uint8Array>): Promise<string> =>
  rawString(new Uint8Array(await new Response(stream).arrayBuffer()));

/** Settles one finished command: the result, or the ExecError that names it. */
function settle(
  cmd: Command,
  line: string,
  started: number,
  code: number | null,
  out: string,
  err: string,
  failure?: string,
): ExecResult {
  debug(`exec ${Math.round(performance.now() - started)} ms: ${line}`);
  if (failure !== undefined) throw new ExecError(line, code, out, err, failure);
  const exitCode = code ?? -1;
  if (exitCode !== 0 && !cmd.allowFailure) throw new ExecError(line, exitCode, out, err);
  return { stdout: out, stderr: err, exitCode };
}

/**
 * Runs commands with Bun's own spawn: in the shipped executable it starts a child in ~1 ms,
 * where Node's child_process emulation first costs ~4 ms of module set-up.
 */
export class BunRunner implements Runner {
  async run(cmd: Command): Promise<ExecResult> {
    const file = cmd.path ?? cmd.tool;
    const line = formatCommandLine(file, cmd.argv);
    const started = performance.now();
    const timeoutMs = cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let child: ReturnType<typeof Bun.spawn<'pipe', 'pipe', 'pipe'>>;
    try {
      child = Bun.spawn([file, ...cmd.argv], {
        env: cmd.env ?? process.env,
        stdin: cmd.input === undefined ? 'ignore' : 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
      }) as ReturnType<typeof Bun.spawn<'pipe', 'pipe', 'pipe'>>;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ExecError(line, null, '', '', code === 'ENOENT' ? `${file} not found` : (e as Error).message);
    }
    if (cmd.input !== undefined) {
      // A child that exits without reading its stdin is fine.
      Promise.resolve(child.stdin.write(inputBytes(cmd.input) ?? ''))
        .then(() => child.stdin.end())
        .catch(() => undefined);
    }
    const [out, err, code] = await Promise.all([text(child.stdout), text(child.stderr), child.exited]);
    let failure: string | undefined;
    if (child.signalCode === 'SIGKILL' && performance.now() - started >= timeoutMs)
      failure = `timed out after ${timeoutMs} ms`;
    else if (out.length + err.length > MAX_OUTPUT) failure = 'output too large';
    return settle(cmd, line, started, child.signalCode ? null : code, out, err, failure);
  }
}

/** Runs commands with Node's child_process (development under Node.js; loaded on first use). */
export class NodeRunner implements Runner {
  run(cmd: Command): Promise<ExecResult> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- not loaded by the executable
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    const file = cmd.path ?? cmd.tool;
    const line = formatCommandLine(file, cmd.argv);
    const started = performance.now();
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
        reject(new ExecError(line, null, '', '', e.code === 'ENOENT' ? `${file} not found` : e.message));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        try {
          resolve(
            settle(cmd, line, started, code, rawString(Buffer.concat(out)), rawString(Buffer.concat(err)), failure),
          );
        } catch (e) {
          reject(e);
        }
      });
      child.stdin.end(inputBytes(cmd.input) ?? '');
    });
  }
}

let shared: Runner | undefined;
/** The process-wide runner: Bun's spawn in the executable, Node's elsewhere. */
export function defaultRunner(): Runner {
  return (shared ??= typeof Bun !== 'undefined' ? new BunRunner() : new NodeRunner());
}
