/**
 * Test-only: containerd in a private sandbox. `unshare` makes new mount, network and PID
 * namespaces; inside, /run is a fresh tmpfs (containerd's shim sockets and ctr's FIFOs live
 * under /run/containerd, whatever the config says) and containerd runs as PID 1 with its root,
 * state and socket in a temp dir. Killing that PID ends every process of the sandbox (shims,
 * containers) and with them the namespaces and mounts. Containers are put under a cgroup parent
 * of our own, removed afterwards. Nothing is pulled: images are imported from files. The temp
 * dir and the cgroup carry the sandbox's locked name (sandbox-lock.ts): when the test process
 * dies first, a later sandbox's sweep removes them.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDyingWithUs, startPidNamespace } from './processes';
import { requirePrograms } from './programs';
import { run, type RunResult } from './sandbox';
import { SandboxLock, sweepDeadSandboxes } from './sandbox-lock';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class ContainerdSandbox {
  readonly dir: string;
  readonly socket: string;
  /** cgroup path (under every hierarchy) that containers of this sandbox go under. */
  readonly cgroupParent: string;
  private unshare: ChildProcess | undefined;
  private readonly lock: SandboxLock;
  /** containerd's PID as this process sees it (PID 1 inside). */
  pid = 0;

  private constructor() {
    this.lock = SandboxLock.take(`tscni-t-${process.pid}-${randomBytes(3).toString('hex')}-ctrd`, { cgroup: true });
    try {
      this.dir = mkdtempSync(join(tmpdir(), `${this.lock.name}-`));
    } catch (e) {
      this.lock.release();
      throw e;
    }
    this.socket = join(this.dir, 'containerd.sock');
    this.cgroupParent = `/${this.lock.name}`;
  }

  static async start(): Promise<ContainerdSandbox> {
    sweepDeadSandboxes();
    const sb = new ContainerdSandbox();
    try {
      await sb.boot();
    } catch (e) {
      await sb.destroy();
      throw e;
    }
    return sb;
  }

  private async boot(): Promise<void> {
    requirePrograms('setpriv', 'unshare', 'containerd', 'ctr', 'runc');
    const config = join(this.dir, 'config.toml');
    writeFileSync(
      config,
      [
        'version = 2',
        `root = "${join(this.dir, 'root')}"`,
        `state = "${join(this.dir, 'state')}"`,
        'disabled_plugins = [',
        '  "io.containerd.grpc.v1.cri",',
        '  "io.containerd.snapshotter.v1.aufs",',
        '  "io.containerd.snapshotter.v1.btrfs",',
        '  "io.containerd.snapshotter.v1.devmapper",',
        '  "io.containerd.snapshotter.v1.zfs",',
        '  "io.containerd.tracing.processor.v1.otlp",',
        '  "io.containerd.internal.v1.tracing",',
        ']',
        '[grpc]',
        `  address = "${this.socket}"`,
        '[ttrpc]',
        `  address = "${this.socket}.ttrpc"`,
        '',
      ].join('\n'),
    );
    const log = join(this.dir, 'containerd.log');
    // containerd is PID 1: a test process killed before destroy() leaves nothing running.
    const { unshare: child, init } = await startPidNamespace(
      [
        'sh',
        '-c',
        'mount -t tmpfs -o mode=755 tmpfs /run && mkdir /run/netns && ip link set lo up && exec containerd --config "$0" >"$1" 2>&1',
        config,
        log,
      ],
      { net: true, env: { PATH }, waitMs: 60_000 },
    );
    this.unshare = child;
    this.pid = init;
    for (let i = 0; i < 200; i++) {
      if ((await this.ctr(['version'])).code === 0) return;
      if (child.exitCode !== null) break;
      await sleep(50);
    }
    throw new Error(`containerd did not start:\n${this.log()}`);
  }

  /** containerd's log (for failure messages). */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'containerd.log'), 'utf8').split('\n').slice(-40).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Runs argv in the sandbox's mount, network and PID namespaces (its /proc is of that PID namespace). */
  exec(argv: readonly string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
    return run(['nsenter', '-t', String(this.pid), '-m', '-n', '-p', '--', ...argv], {
      env: { PATH, ...opts.env },
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
  }

  /**
   * Spawns a long-running argv in the sandbox's network namespace only (our PID to end; nsenter
   * execs argv, which keeps setpriv's parent-death signal: it also ends when this process dies).
   */
  spawnInNet(argv: readonly string[]): ChildProcess {
    return spawnDyingWithUs(['nsenter', '-t', String(this.pid), '-n', '--', ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  ctr(args: readonly string[], ns = 'tscni', timeoutMs = 60_000): Promise<RunResult> {
    return this.exec(['ctr', '-a', this.socket, '-n', ns, ...args], { timeoutMs });
  }

  async ctrOk(args: readonly string[], ns = 'tscni', timeoutMs = 60_000): Promise<RunResult> {
    const r = await this.ctr(args, ns, timeoutMs);
    if (r.code !== 0) throw new Error(`ctr ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}\n${this.log()}`);
    return r;
  }

  /** Ends PID 1 (and so everything in the sandbox), removes our cgroups and the temp dir. */
  async destroy(): Promise<void> {
    if (this.pid) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      this.pid = 0;
    }
    const u = this.unshare;
    this.unshare = undefined;
    if (u && u.exitCode === null && u.signalCode === null) {
      const gone = new Promise<void>((r) => u.once('exit', () => r()));
      const t = setTimeout(() => u.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(t);
    }
    const cgroupsLeft = await removeCgroups(this.cgroupParent);
    rmSync(this.dir, { recursive: true, force: true });
    // What could not go keeps the lock file for a later sweep.
    if (cgroupsLeft || existsSync(this.dir)) this.lock.abandon();
    else this.lock.release();
  }
}

/**
 * Removes a cgroup subtree in every hierarchy, deepest first (emptying after a kill is
 * asynchronous); true when some of it is still there.
 */
async function removeCgroups(parent: string): Promise<boolean> {
  const root = '/sys/fs/cgroup';
  const tops = existsSync(join(root, 'cgroup.controllers'))
    ? [join(root, parent)]
    : readdirSync(root).map((h) => join(root, h, parent));
  for (const top of tops.filter((t) => existsSync(t))) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const order: string[] = [];
      const walk = (d: string): void => {
        for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
        order.push(d);
      };
      try {
        walk(top);
        for (const d of order) rmdirSync(d);
        break;
      } catch {
        await sleep(100);
      }
    }
  }
  return tops.some((t) => existsSync(t));
}
