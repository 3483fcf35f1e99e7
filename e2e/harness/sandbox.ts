/**
 * A sandbox for a whole container runtime (test-only): private network, mount and PID
 * namespaces made by `unshare`, with every path a runtime writes to replaced by a directory of
 * this sandbox, so containerd, podman and the plugins they run never touch the machine's own
 * network or files.
 *
 * - PID 1 of the sandbox is a tiny reaper that also watches a pipe from this process: when the
 *   test process dies, PID 1 exits and the kernel kills everything else in the sandbox.
 * - `/run`, `/var/tmp` and `/dev/shm` are fresh tmpfs; `/sys` is remounted for the new network
 *   namespace; the runtimes' default directories (`/etc/cni/net.d`, `/opt/cni/bin`,
 *   `/var/lib/cni`, ...) are bind mounts of directories under `dir`. A default directory that does
 *   not exist on the machine gets its mount point inside an overlay of its parent whose upper
 *   layer is under `dir`, so nothing is created on the machine either.
 * - The network namespace has `lo` and an uplink, a veth pair to a second namespace made here
 *   (`UPLINK`), with the default route through it: containers have somewhere to route to, and no
 *   packet leaves namespaces this sandbox made.
 * - Runtimes are told to put their cgroups under `cgroupParent`; `destroy()` removes it.
 * - The temp dir and the cgroup carry the sandbox's name, locked for the life of the test process
 *   (lib/testutil/sandbox-lock.ts): when that process dies first, a later sandbox's sweep
 *   removes them.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { firstChildPid } from '../../lib/testutil/processes';
import { BIN_DIR, RunResult, run } from '../../lib/testutil/sandbox';
import { SandboxLock, sweepDeadSandboxes } from '../../lib/testutil/sandbox-lock';
import { installPlugins } from './plugins';
import { readTrace, TraceEntry } from './trace';

/** Addresses of the uplink: the sandbox host end and the far end (documentation range, TEST-NET-3). */
export const UPLINK = {
  ns: 'tscni-e2e-uplink',
  hostIf: 'up0',
  hostIp: '203.0.113.2',
  farIp: '203.0.113.1',
  prefix: 24,
  // IPv6 documentation prefix (RFC 3849).
  hostIp6: '2001:db8:e2e::2',
  farIp6: '2001:db8:e2e::1',
  prefix6: 64,
};

/**
 * The plugins under test: bin/, or another directory given as E2E_PLUGINS_DIR (e.g. the
 * reference, /usr/lib/cni, to compare what the runtimes see from it).
 */
export const PLUGINS_DIR = process.env['E2E_PLUGINS_DIR'] || BIN_DIR;

/** Default paths the runtimes write to, each replaced by a directory of the sandbox. */
export const PRIVATE_PATHS = [
  '/etc/cni/net.d',
  '/opt/cni/bin',
  '/var/lib/cni',
  '/var/lib/containerd',
  '/var/lib/containers',
  '/etc/containers',
  '/etc/containerd',
] as const;

/** PATH for everything started in the sandbox (the pyenv/cargo entries of a developer's PATH are not wanted there). */
export const SANDBOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// PID 1: reaps orphans (conmon, shims) and exits when the test process closes its end of stdin.
const REAPER = [
  'use POSIX ":sys_wait_h";',
  '$SIG{TERM} = sub { exit 0 };',
  'my $r = ""; vec($r, fileno(STDIN), 1) = 1;',
  'while (1) {',
  '  my $n = select(my $rr = $r, undef, undef, 0.5);',
  '  if ($n > 0) { my $b; exit 0 if sysread(STDIN, $b, 64) <= 0; }',
  '  1 while waitpid(-1, WNOHANG) > 0;',
  '}',
].join('\n');

export interface ExecOptions {
  input?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface Daemon {
  readonly name: string;
  readonly logPath: string;
  readonly pidFile: string;
  readonly child: ChildProcess;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class RuntimeSandbox {
  readonly tag: string;
  readonly dir: string;
  /** cgroup (v1 path relative to each hierarchy, or v2) the runtimes must put containers under. */
  readonly cgroupParent: string;
  /**
   * The CNI bin dir, trace wrappers in front of `realBinDir`: `/opt/cni/bin` inside the sandbox,
   * this path outside it (and inside too).
   */
  readonly binDir: string;
  /** A copy of `bin/` (symlinks kept) plus the plugins borrowed from the reference. */
  readonly realBinDir: string;
  readonly traceDir: string;
  /** Environment for commands in the sandbox. */
  readonly env: Record<string, string>;
  private unshare: ChildProcess | undefined;
  private initPid = 0;
  private overlays = new Set<string>();
  private readonly daemons: Daemon[] = [];
  private readonly lock: SandboxLock;

  private constructor(tag: string) {
    this.tag = tag;
    this.lock = SandboxLock.take(`tscni-e2e-${tag}-${process.pid}-${randomBytes(3).toString('hex')}`, { cgroup: true });
    try {
      this.dir = mkdtempSync(join(tmpdir(), `${this.lock.name}-`));
    } catch (e) {
      this.lock.release();
      throw e;
    }
    this.cgroupParent = `/${this.lock.name}`;
    // The wrappers go where runtimes look by default (ctr cannot be told another dir).
    this.binDir = this.hostPath('/opt/cni/bin');
    this.realBinDir = join(this.dir, 'cni-real');
    this.traceDir = join(this.dir, 'trace');
    this.env = {
      PATH: SANDBOX_PATH,
      HOME: join(this.dir, 'home'),
      TMPDIR: join(this.dir, 'tmp'),
      LANG: 'C.UTF-8',
    };
  }

  static async create(tag: string, opts: { binDir?: string } = {}): Promise<RuntimeSandbox> {
    sweepDeadSandboxes();
    const sb = new RuntimeSandbox(tag);
    try {
      await sb.start();
      installPlugins(opts.binDir ?? PLUGINS_DIR, sb.realBinDir, sb.binDir, sb.traceDir);
    } catch (e) {
      await sb.destroy();
      throw e;
    }
    return sb;
  }

  private async start(): Promise<void> {
    for (const d of ['home', 'tmp', 'trace', 'ov', 'private']) mkdirSync(join(this.dir, d), { recursive: true });
    const child = spawn(
      'unshare',
      ['--net', '--mount', '--pid', '--fork', '--propagation', 'private', '--mount-proc', 'perl', '-e', REAPER],
      { stdio: ['pipe', 'ignore', 'ignore'], detached: true },
    );
    this.unshare = child;
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new Error('unshare did not start');
    // unshare forks PID 1 of the new namespace; nsenter must target it, not unshare itself.
    this.initPid = (await firstChildPid(pid, 3000, 20)) ?? 0;
    if (!this.initPid) throw new Error('sandbox PID 1 did not appear');
    // --mount-proc has happened once PID 1 runs perl; wait for that before entering.
    for (let i = 0; i < 100; i++) {
      const comm = readFileSync(`/proc/${this.initPid}/comm`, 'utf8').trim();
      if (comm === 'perl') break;
      await sleep(20);
    }

    await this.sh('mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/netns /run/lock');
    await this.sh('mount -t tmpfs -o mode=1777 tmpfs /var/tmp && mount -t tmpfs -o mode=1777 tmpfs /dev/shm');
    // A sysfs of this network namespace; the cgroup mounts under it are carried over.
    await this.sh(
      'mkdir /run/.cg && mount --rbind /sys/fs/cgroup /run/.cg && mount -t sysfs sysfs /sys' +
        ' && mount --rbind /run/.cg /sys/fs/cgroup && umount -l /run/.cg && rmdir /run/.cg',
    );
    for (const p of PRIVATE_PATHS) await this.privatePath(p);
    await this.sh(
      [
        'ip link set lo up',
        `ip netns add ${UPLINK.ns}`,
        `ip -n ${UPLINK.ns} link set lo up`,
        `ip link add ${UPLINK.hostIf} type veth peer name wan0 netns ${UPLINK.ns}`,
        `ip addr add ${UPLINK.hostIp}/${UPLINK.prefix} dev ${UPLINK.hostIf}`,
        `ip link set ${UPLINK.hostIf} up`,
        `ip -n ${UPLINK.ns} addr add ${UPLINK.farIp}/${UPLINK.prefix} dev wan0`,
        `ip -n ${UPLINK.ns} link set wan0 up`,
        `ip route add default via ${UPLINK.farIp}`,
        // nodad: usable at once, no wait for duplicate address detection.
        `ip addr add ${UPLINK.hostIp6}/${UPLINK.prefix6} dev ${UPLINK.hostIf} nodad`,
        `ip -n ${UPLINK.ns} addr add ${UPLINK.farIp6}/${UPLINK.prefix6} dev wan0 nodad`,
        `ip -6 route add default via ${UPLINK.farIp6}`,
      ].join(' && '),
    );
  }

  /** Makes `target` a bind mount of `<dir>/private/<target>` inside the sandbox. */
  private async privatePath(target: string): Promise<void> {
    const src = this.hostPath(target);
    mkdirSync(src, { recursive: true });
    if (!existsSync(target)) {
      let parent = dirname(target);
      while (!existsSync(parent)) parent = dirname(parent);
      if (parent === '/') throw new Error(`cannot make a mount point for ${target}`);
      if (!this.overlays.has(parent)) {
        const n = this.overlays.size;
        const upper = join(this.dir, 'ov', String(n), 'upper');
        const work = join(this.dir, 'ov', String(n), 'work');
        mkdirSync(upper, { recursive: true });
        mkdirSync(work, { recursive: true });
        await this.sh(`mount -t overlay overlay -o lowerdir=${parent},upperdir=${upper},workdir=${work} ${parent}`);
        this.overlays.add(parent);
      }
      await this.sh(`mkdir -p ${target}`);
    }
    await this.sh(`mount --bind ${src} ${target}`);
  }

  /** Where a private path of the sandbox lives on the machine (to read leftovers after a run). */
  hostPath(target: string): string {
    return join(this.dir, 'private', target.replace(/^\/+/, '').replace(/\//g, '_'));
  }

  private nsenter(): string[] {
    return ['nsenter', '-t', String(this.initPid), '-m', '-n', '-p', '--'];
  }

  /** Runs argv in the sandbox; never throws on a non-zero exit. */
  exec(argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
    return run([...this.nsenter(), ...argv], {
      input: opts.input,
      env: { ...this.env, ...opts.env },
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
  }

  /** Like exec, but throws with the output when the command fails. */
  async execOk(argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
    const r = await this.exec(argv, opts);
    if (r.code !== 0) throw new Error(`[${this.tag}] ${argv.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return r;
  }

  /** Runs a shell command line in the sandbox (setup only; the commands are ours). */
  sh(script: string, opts: ExecOptions = {}): Promise<RunResult> {
    return this.execOk(['sh', '-c', script], opts);
  }

  /**
   * Starts a long-running process in the sandbox, its output to `<dir>/<name>.log`. It runs
   * through `sh -c 'echo $$ > pidfile; exec ...'` so that stopDaemon can signal it by its PID.
   */
  startDaemon(name: string, argv: readonly string[], env: Record<string, string> = {}): Daemon {
    const logPath = join(this.dir, `${name}.log`);
    const pidFile = join(this.dir, `${name}.pid`);
    const fd = openSync(logPath, 'a');
    const [cmd, ...args] = this.nsenter();
    const child = spawn(cmd ?? 'nsenter', [...args, 'sh', '-c', `echo $$ > ${pidFile}; exec "$@"`, 'sh', ...argv], {
      stdio: ['ignore', fd, fd],
      env: { ...this.env, ...env },
    });
    closeSync(fd);
    const d = { name, logPath, pidFile, child };
    this.daemons.push(d);
    return d;
  }

  /** Signals a daemon by the PID it wrote (a PID of this sandbox's namespace) and waits for it to exit. */
  async stopDaemon(name: string, signal: 'TERM' | 'KILL' = 'TERM', timeoutMs = 15_000): Promise<void> {
    const d = this.daemons.find((x) => x.name === name);
    if (!d) throw new Error(`no daemon ${name}`);
    if (d.child.exitCode !== null || d.child.signalCode !== null) return;
    const exited = new Promise<void>((res) => d.child.once('exit', () => res()));
    const pid = readFileSync(d.pidFile, 'utf8').trim();
    await this.exec(['kill', `-${signal}`, pid]);
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), timeoutMs)));
    const outcome = await Promise.race([exited, t]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      await this.exec(['kill', '-KILL', pid]);
      await exited;
    }
  }

  /** Polls `probe` until it returns true or `timeoutMs` passes. */
  async waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await probe()) return;
      await sleep(100);
    }
    throw new Error(`[${this.tag}] timed out after ${timeoutMs} ms waiting for ${what}`);
  }

  /** Every plugin call recorded so far, in order. */
  trace(): TraceEntry[] {
    return readTrace(this.traceDir);
  }

  /** The last lines of each daemon's log (for a failure message). */
  daemonLogs(lines = 40): string {
    return this.daemons
      .map((d) => {
        let text = '';
        try {
          text = readFileSync(d.logPath, 'utf8');
        } catch {
          text = '(no log)';
        }
        return `--- ${d.name} log (last ${lines} lines) ---\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
      })
      .join('\n');
  }

  /** Copies a file from the machine into the sandbox's temp dir and returns its path there. */
  stage(src: string, name: string): string {
    const dst = join(this.dir, name);
    cpSync(src, dst);
    return dst;
  }

  /**
   * Kills PID 1 of the sandbox (the kernel then kills every process in it, which also releases
   * its mounts and network namespaces), removes the cgroups under `cgroupParent` and the temp dir.
   * Idempotent; also right after a failed create.
   */
  async destroy(): Promise<void> {
    const u = this.unshare;
    this.unshare = undefined;
    if (this.initPid) {
      try {
        process.kill(this.initPid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      this.initPid = 0;
    }
    if (u && u.exitCode === null && u.signalCode === null) {
      await new Promise<void>((res) => {
        const t = setTimeout(() => {
          if (u.pid) {
            try {
              process.kill(u.pid, 'SIGKILL');
            } catch {
              /* gone */
            }
          }
          res();
        }, 10_000);
        u.once('exit', () => {
          clearTimeout(t);
          res();
        });
      });
    }
    u?.stdin?.destroy();
    for (const d of this.daemons) d.child.kill('SIGKILL');
    await removeCgroups(this.cgroupParent);
    rmSync(this.dir, { recursive: true, force: true });
    // What could not go keeps the lock file for a later sweep.
    if (cgroupDirs(this.cgroupParent).length > 0 || existsSync(this.dir)) this.lock.abandon();
    else this.lock.release();
  }
}

/** cgroup directories named `parent` in every mounted hierarchy (v1 controllers and v2). */
export function cgroupDirs(parent: string): string[] {
  const root = '/sys/fs/cgroup';
  const dirs: string[] = [];
  const direct = join(root, parent);
  if (existsSync(join(root, 'cgroup.controllers'))) {
    if (existsSync(direct)) dirs.push(direct);
    return dirs;
  }
  for (const h of readdirSync(root)) {
    const d = join(root, h, parent);
    if (existsSync(d)) dirs.push(d);
  }
  return dirs;
}

/** Removes a cgroup subtree bottom-up (processes in it are already dead; emptying is asynchronous). */
async function removeCgroups(parent: string): Promise<void> {
  for (const top of cgroupDirs(parent)) {
    const order: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      order.push(d);
    };
    for (let attempt = 0; attempt < 50; attempt++) {
      order.length = 0;
      try {
        walk(top);
        for (const d of order) rmdirSync(d);
        break;
      } catch {
        await sleep(100);
      }
    }
  }
}
