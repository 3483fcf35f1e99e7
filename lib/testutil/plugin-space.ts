/**
 * Private mount and PID namespaces for plugin calls (test-only module): a plugin run through
 * `enter()` sees the test's bind mounts (a resolv.conf of the test, say), and whatever it starts
 * (dnsmasq) lives in the namespace and dies with it. PID 1 of the namespace is `sleep`, which
 * does not reap: a killed daemon stays a zombie until `destroy()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPidNamespace } from './processes';
import { run } from './sandbox';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A process started in the space: its PID inside the namespace (for `kill` through enter()), and its exit. */
export interface Started {
  readonly pid: number;
  readonly exited: Promise<void>;
}

export class PluginSpace {
  private constructor(
    private readonly helper: ChildProcess,
    readonly init: number,
  ) {}

  static async create(): Promise<PluginSpace> {
    const { unshare: helper, init } = await startPidNamespace(['sleep', 'infinity']);
    // --mount-proc has happened once PID 1 runs sleep.
    for (let i = 0; i < 200 && readFileSync(`/proc/${init}/comm`, 'utf8').trim() !== 'sleep'; i++) await sleep(10);
    return new PluginSpace(helper, init);
  }

  /** argv run inside the space (prefix for run() or a PluginCall's `via`). */
  enter(argv: readonly string[]): string[] {
    return ['nsenter', '-t', String(this.init), '-m', '-p', '--', ...argv];
  }

  /**
   * Starts argv in the space with `input` on stdin and resolves once it runs, with its PID in the
   * namespace (written by the shell before it execs argv into a file under `dir`).
   */
  async start(dir: string, argv: readonly string[], input: string, env: NodeJS.ProcessEnv): Promise<Started> {
    const pidFile = join(dir, `started-${Date.now()}-${Math.random().toString(36).slice(2)}.pid`);
    const [cmd, ...args] = this.enter(['sh', '-c', `echo $$ > ${pidFile}; exec "$@"`, 'sh', ...argv]);
    const child = spawn(cmd ?? 'nsenter', args, { stdio: ['pipe', 'ignore', 'ignore'], env });
    const exited = new Promise<void>((r) => child.on('close', () => r()));
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
    for (let i = 0; i < 1000; i++) {
      try {
        const pid = Number(readFileSync(pidFile, 'utf8').trim());
        if (pid > 0) return { pid, exited };
      } catch {
        /* not yet */
      }
      await sleep(10);
    }
    throw new Error(`${argv.join(' ')} did not start`);
  }

  /** Sends a signal to a process of the space by its PID there. */
  async kill(pid: number, signal: 'KILL' | 'STOP' | 'CONT' | 'TERM'): Promise<void> {
    await run(this.enter(['kill', `-${signal}`, String(pid)]));
  }

  async destroy(): Promise<void> {
    try {
      process.kill(this.init, 'SIGKILL'); // PID 1 of the namespace: everything in it goes too
    } catch {
      /* gone */
    }
    this.helper.kill('SIGKILL');
  }
}
