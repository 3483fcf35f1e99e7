/**
 * Liveness locks for test sandboxes, and the sweep of sandboxes whose process died (test-only
 * module).
 *
 * A kit that names namespaces, temp dirs or cgroups after a sandbox name N (`tscni-t-…`,
 * `tscni-e2e-…`) first takes `SandboxLock.take(N)`: the lock file `<LOCK_DIR>/N.lock`, flock'ed
 * exclusively through a descriptor this process keeps open. The kernel drops a flock when the
 * last descriptor of it closes, so the lock lives exactly as long as the process that made the
 * sandbox (a jest worker), however that process ends (SIGKILL included) and whatever PID
 * namespace it ran in. A PID in a name says nothing across PID namespaces; the lock does.
 *
 * `sweepDeadSandboxes()` takes, without waiting, the flock of every lock file it finds: if that
 * succeeds, the owner is dead, and what N claims is removed — network namespaces named `N-*`,
 * entries `N-*` of the temp dir the lock file records, and (when it says so) the cgroup `/N` —
 * then the lock file. A live owner's lock cannot be taken, so its sandbox is never touched.
 * Names without a lock file (made before these locks existed, or by the bench scripts, which use
 * `tscni-t-` too and run for hours) are left alone: nothing tells whether they are in use.
 *
 * Node has no flock(2); the `flock` program takes it on our descriptor, passed as its fd 3.
 * A flock belongs to the open file description, which the program shares with us and which
 * outlives it: the lock stays with this process after `flock` exits, with no helper process to
 * keep alive or to kill. Node opens files close-on-exec, so no child inherits the descriptor.
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, normalize } from 'node:path';

/** Where the lock files live: /run, so that, like the namespaces in /run/netns, they go at boot. */
export const LOCK_DIR = '/run/tscni-test-sandboxes';
const NETNS_DIR = '/run/netns';
const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * Sandbox names the sweep acts on, as the kits make them: `tscni-t-<pid>-<6 hex>[-<tag>]`,
 * `tscni-e2e-<tag>-<pid>-<6 hex>`. Nothing a path could hide in, and never a prefix of the bench
 * scripts' lockless `tscni-t-bench-…` or `tscni-t-verbcpu-…`.
 */
const SANDBOX_NAME = /^(?:tscni-t-\d+-[0-9a-f]{6}(?:-[A-Za-z0-9._-]+)?|tscni-e2e-[A-Za-z0-9._-]+-\d+-[0-9a-f]{6})$/;
// `flock`'s exit code when the lock is held elsewhere (its own errors are 64 and up).
const BUSY = 10;
// A lock file is made under this suffix and renamed once locked: a `.lock` file is never seen
// unlocked while its owner lives. A `.new` older than this lost its owner before the rename.
const NEW = '.new';
const NEW_GRACE_MS = 10 * 60_000;

/** What a sandbox's name covers beyond its namespaces (written into the lock file). */
export interface Claims {
  /** The temp dir holding the sandbox's `N-*` directories (default: this process's tmpdir()). */
  readonly tmp?: string;
  /** The sandbox's processes run under the cgroup `/N` (in every hierarchy). */
  readonly cgroup?: boolean;
}

/** Names this process holds: the sweep need not ask the kernel about them. */
const held = new Set<string>();

/** Takes the flock on `fd` without waiting: true when taken, false when another holds it. */
function tryFlock(fd: number, what: string): boolean {
  const r = spawnSync('flock', ['--exclusive', '--nonblock', '--conflict-exit-code', String(BUSY), '3'], {
    stdio: ['ignore', 'ignore', 'pipe', fd],
  });
  if (r.status === 0) return true;
  if (r.status === BUSY) return false;
  throw new Error(`flock on ${what}: ${r.error?.message ?? `exit ${r.status ?? r.signal}: ${String(r.stderr)}`}`);
}

export class SandboxLock {
  private constructor(
    readonly name: string,
    readonly path: string,
    private fd: number | undefined,
  ) {}

  /** Locks the sandbox name `name` for this process's lifetime; take it before making anything so named. */
  static take(name: string, claims: Claims = {}): SandboxLock {
    if (!SANDBOX_NAME.test(name)) throw new Error(`not a test sandbox name: ${name}`);
    mkdirSync(LOCK_DIR, { recursive: true, mode: 0o700 });
    const path = join(LOCK_DIR, `${name}.lock`);
    const fresh = join(LOCK_DIR, `${name}${NEW}`);
    const fd = openSync(fresh, 'wx', 0o600);
    try {
      writeSync(fd, JSON.stringify({ tmp: claims.tmp ?? tmpdir(), cgroup: claims.cgroup === true }));
      if (!tryFlock(fd, fresh)) throw new Error(`${fresh} is locked by another process`);
      renameSync(fresh, path);
    } catch (e) {
      closeSync(fd);
      rmSync(fresh, { force: true });
      throw e;
    }
    held.add(name);
    return new SandboxLock(name, path, fd);
  }

  /** Removes the lock file and drops the lock: the sandbox is gone. Idempotent. */
  release(): void {
    if (this.fd === undefined) return;
    rmSync(this.path, { force: true });
    this.drop();
  }

  /** Drops the lock but keeps the file: something of the sandbox may be left for the sweep. */
  abandon(): void {
    this.drop();
  }

  private drop(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    held.delete(this.name);
  }
}

/** What one sweep removed. */
export interface Swept {
  readonly sandboxes: string[];
  readonly namespaces: string[];
  readonly paths: string[];
  readonly cgroups: string[];
}

const list = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

/**
 * The sandbox that `entry` (a namespace or directory name) belongs to among `names`: the longest
 * N with `entry` starting with `N-` (a tagged sandbox's name extends an untagged one's).
 */
function ownerOf(entry: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const n of names) if (entry.startsWith(`${n}-`) && (best === undefined || n.length > best.length)) best = n;
  return best;
}

/** The lock file's claims; anything unexpected claims nothing beyond the namespaces. */
function readClaims(fd: number): { tmp?: string; cgroup: boolean } {
  const buf = Buffer.alloc(4096);
  const n = readSync(fd, buf, 0, buf.length, 0);
  try {
    const v: unknown = JSON.parse(buf.subarray(0, n).toString());
    if (typeof v !== 'object' || v === null) return { cgroup: false };
    const o = v as Record<string, unknown>;
    const tmp =
      typeof o['tmp'] === 'string' && isAbsolute(o['tmp']) && normalize(o['tmp']) === o['tmp'] ? o['tmp'] : undefined;
    return { tmp, cgroup: o['cgroup'] === true };
  } catch {
    return { cgroup: false };
  }
}

/** The cgroup `/name` in every mounted hierarchy (v2, or each v1 controller). */
function cgroupDirs(name: string): string[] {
  const tops = existsSync(join(CGROUP_ROOT, 'cgroup.controllers'))
    ? [CGROUP_ROOT]
    : list(CGROUP_ROOT).map((h) => join(CGROUP_ROOT, h));
  return tops.map((t) => join(t, name)).filter((d) => existsSync(d));
}

/** Removes a cgroup subtree bottom-up, once; false when some of it is still busy. */
function removeCgroup(top: string): boolean {
  let ok = true;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    try {
      rmdirSync(d);
    } catch {
      ok = false;
    }
  };
  try {
    walk(top);
  } catch {
    return false;
  }
  return ok;
}

/**
 * Removes what every sandbox whose owner died left behind (see the module comment). Safe with
 * any number of sweeps and sandbox creations at once, in this process or others: a lock is
 * acted on only by the one sweep that holds it, and only while its file is still the one named.
 */
export function sweepDeadSandboxes(): Swept {
  const swept: Swept = { sandboxes: [], namespaces: [], paths: [], cgroups: [] };
  const files = list(LOCK_DIR);
  const names = files.flatMap((f) => {
    const n = f.endsWith('.lock') ? f.slice(0, -'.lock'.length) : f.endsWith(NEW) ? f.slice(0, -NEW.length) : '';
    return SANDBOX_NAME.test(n) ? [n] : [];
  });
  let namespaces: string[] | undefined;
  const tmpLists = new Map<string, string[]>();
  for (const f of files) {
    const isNew = f.endsWith(NEW);
    const name = isNew ? f.slice(0, -NEW.length) : f.endsWith('.lock') ? f.slice(0, -'.lock'.length) : '';
    if (!SANDBOX_NAME.test(name) || held.has(name)) continue;
    const path = join(LOCK_DIR, f);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      continue; // swept or released meanwhile
    }
    try {
      const st = fstatSync(fd);
      // A `.new` is young while its maker is between creating and locking it.
      if (isNew && Date.now() - st.mtimeMs < NEW_GRACE_MS) continue;
      if (!tryFlock(fd, path)) continue; // its owner lives
      // Another sweep may have finished with this file and removed it after we opened it.
      try {
        if (statSync(path).ino !== st.ino) continue;
      } catch {
        continue;
      }
      if (isNew) {
        unlinkSync(path); // nothing is made before the rename
        continue;
      }
      const claims = readClaims(fd);
      let left = false;
      namespaces ??= list(NETNS_DIR);
      for (const ns of namespaces.filter((e) => ownerOf(e, names) === name)) {
        const r = spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
        if (r.status === 0) swept.namespaces.push(ns);
        else if (existsSync(join(NETNS_DIR, ns))) left = true;
      }
      if (claims.tmp !== undefined) {
        const tmp = claims.tmp;
        const entries = tmpLists.get(tmp) ?? list(tmp);
        tmpLists.set(tmp, entries);
        for (const e of entries.filter((x) => ownerOf(x, names) === name)) {
          const p = join(tmp, e);
          // --one-file-system: a mount someone made under the directory is not emptied.
          const r = spawnSync('rm', ['-rf', '--one-file-system', '--', p], { stdio: 'ignore' });
          if (r.status === 0 && !existsSync(p)) swept.paths.push(p);
          else left = true;
        }
      }
      if (claims.cgroup) {
        for (const d of cgroupDirs(name)) {
          if (removeCgroup(d)) swept.cgroups.push(d);
          else left = true; // processes still in it; a later sweep tries again
        }
      }
      if (!left) {
        unlinkSync(path);
        swept.sandboxes.push(name);
      }
    } finally {
      closeSync(fd);
    }
  }
  return swept;
}
