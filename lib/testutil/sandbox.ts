/**
 * Throwaway network sandboxes for integration and conformance tests (test-only module).
 *
 * A sandbox is a private "host" network namespace plus container namespaces, all named
 * `tscni-t-<pid>-<rand>-*`. Plugins run inside the host namespace (`ip netns exec`), so bridges,
 * rules and sysctls never reach the machine's own namespace. `destroy()` deletes exactly the
 * namespaces and directories this sandbox created, also after a failure. The name is locked for
 * the life of the process that made it (sandbox-lock.ts), so when that process is killed before
 * `destroy()`, a later `Sandbox.create` (of any test run) removes what it left.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SandboxLock, sweepDeadSandboxes } from './sandbox-lock';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const BIN_DIR = join(REPO_ROOT, 'bin');
export const REFERENCE_DIR = '/usr/lib/cni';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, or undefined when empty / not JSON. */
  json: unknown;
}

/** Runs argv (no shell) with optional stdin and env; never throws on a non-zero exit. */
export function run(
  argv: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((res, rej) => {
    const [file, ...args] = argv;
    if (!file) return rej(new Error('empty argv'));
    const child = spawn(file, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => {
      clearTimeout(timer);
      rej(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString();
      let json: unknown;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      res({ code: code ?? -1, stdout, stderr: Buffer.concat(err).toString(), json });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Like run, but throws with the output when the command fails. */
export async function runOk(
  argv: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r;
}

export interface PluginCall {
  command: string;
  containerId?: string;
  netns?: string;
  ifName?: string;
  args?: string;
  path?: string;
  /** Extra or overriding environment variables (a value of undefined removes one). */
  env?: Record<string, string | undefined>;
  /** A command the call goes through first, e.g. nsenter into a private mount namespace. */
  via?: readonly string[];
}

const netnsNames = (): string[] => {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
};

export class Sandbox {
  readonly prefix: string;
  readonly hostNs: string;
  readonly hostNsPath: string;
  /** A private temporary directory (dataDir, caches, configs). */
  readonly dir: string;
  private readonly namespaces: string[] = [];
  private readonly lock: SandboxLock;

  private constructor(tag: string) {
    this.prefix = `tscni-t-${process.pid}-${randomBytes(3).toString('hex')}${tag ? `-${tag}` : ''}`;
    this.hostNs = `${this.prefix}-host`;
    this.hostNsPath = `/run/netns/${this.hostNs}`;
    // Locked before anything named after it exists: the sweep never sees it unlocked while we live.
    this.lock = SandboxLock.take(this.prefix);
    try {
      this.dir = mkdtempSync(join(tmpdir(), `${this.prefix}-`));
    } catch (e) {
      this.lock.release();
      throw e;
    }
  }

  /**
   * Creates the sandbox: its host namespace with loopback up. First removes what sandboxes of
   * processes that died before their `destroy()` left behind.
   */
  static async create(tag = ''): Promise<Sandbox> {
    sweepDeadSandboxes();
    const sb = new Sandbox(tag);
    try {
      await sb.addNamespace(sb.hostNs);
      await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'lo', 'up']);
    } catch (e) {
      await sb.destroy();
      throw e;
    }
    return sb;
  }

  private async addNamespace(name: string): Promise<void> {
    await runOk(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
  }

  /** Adds a container namespace; returns its path (for CNI_NETNS). `loopbackUp: false` leaves lo as the kernel made it (down). */
  async addContainer(name: string, opts: { loopbackUp?: boolean } = {}): Promise<string> {
    const ns = `${this.prefix}-${name}`;
    await this.addNamespace(ns);
    if (opts.loopbackUp !== false) await runOk(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    return `/run/netns/${ns}`;
  }

  /** Deletes one container namespace (e.g. to test DEL after the netns is gone). */
  async removeContainer(name: string): Promise<void> {
    const ns = `${this.prefix}-${name}`;
    await run(['ip', 'netns', 'del', ns]);
    const i = this.namespaces.indexOf(ns);
    if (i >= 0) this.namespaces.splice(i, 1);
  }

  nsName(name: string): string {
    return `${this.prefix}-${name}`;
  }

  /** Runs argv inside a namespace of this sandbox ('host' or a container name). */
  exec(
    where: string,
    argv: readonly string[],
    opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<RunResult> {
    const ns = where === 'host' ? this.hostNs : `${this.prefix}-${where}`;
    return run(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  /** Runs a CNI plugin executable inside the sandbox host namespace. */
  runPlugin(pluginPath: string, call: PluginCall, config: unknown): Promise<RunResult> {
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
    const set = (k: string, v: string | undefined): void => {
      if (v !== undefined) env[k] = v;
    };
    set('CNI_COMMAND', call.command);
    set('CNI_CONTAINERID', call.containerId);
    set('CNI_NETNS', call.netns);
    set('CNI_IFNAME', call.ifName);
    set('CNI_ARGS', call.args);
    set('CNI_PATH', call.path ?? BIN_DIR);
    // tscni's own state (e.g. VLAN sub-interface counts) stays inside the sandbox.
    set('TSCNI_STATE_DIR', join(this.dir, 'tscni-state'));
    // Teardown marks (lib/state/marks.ts) stay in the sandbox's directory, not in /run/tscni.
    set('TSCNI_RUN_DIR', join(this.dir, 'run'));
    for (const [k, v] of Object.entries(call.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    const input = typeof config === 'string' ? config : JSON.stringify(config);
    return run([...(call.via ?? []), 'ip', 'netns', 'exec', this.hostNs, pluginPath], { input, env });
  }

  /**
   * Removes every namespace and the directory this sandbox created, then its lock. Idempotent.
   * A namespace with its prefix that is still there (made by a test outside addContainer, or
   * one `ip netns del` failed on) keeps the lock file, unlocked, for the next sweep.
   */
  async destroy(): Promise<void> {
    for (const ns of this.namespaces.splice(0).reverse()) await run(['ip', 'netns', 'del', ns]);
    rmSync(this.dir, { recursive: true, force: true });
    const left = existsSync(this.dir) || netnsNames().some((e) => e.startsWith(`${this.prefix}-`));
    if (left) this.lock.abandon();
    else this.lock.release();
  }
}

/** True when the tests run as root (integration tests need it). */
export const isRoot = (): boolean => process.getuid?.() === 0;
