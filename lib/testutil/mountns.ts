/**
 * A private mount namespace for tests that need their own mounts (a small or read-only tmpfs
 * under a store), test-only. A long-lived helper process is started with
 * `unshare --mount --propagation private`; mounts are made in its namespace and commands that
 * must see them enter it with `nsenter --mount=/proc/<pid>/ns/mnt`. The machine's own mount
 * namespace is never changed: everything mounted here goes when the helper (killed by its PID
 * in destroy()) is gone. Create it after the network namespaces it must see: with private
 * propagation, later /run/netns entries do not show up in it.
 */
import type { ChildProcess } from 'node:child_process';
import { readlinkSync, statfsSync } from 'node:fs';
import { spawnDyingWithUs } from './processes';
import { run, runOk, type RunResult } from './sandbox';

export class PrivateMounts {
  private constructor(private readonly helper: ChildProcess) {}

  static async create(): Promise<PrivateMounts> {
    // The helper dies with this process (setpriv's parent-death signal, kept across unshare's exec).
    const helper = spawnDyingWithUs(['unshare', '--mount', '--propagation', 'private', 'sleep', 'infinity'], {
      stdio: 'ignore',
    });
    const pm = new PrivateMounts(helper);
    const mine = readlinkSync('/proc/self/ns/mnt');
    // unshare replaces itself with sleep once the namespace exists: wait for that.
    for (let i = 0; i < 200; i++) {
      try {
        if (helper.pid && readlinkSync(`/proc/${helper.pid}/ns/mnt`) !== mine) return pm;
      } catch {
        // not started yet
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await pm.destroy();
    throw new Error('the mount namespace helper did not start');
  }

  get pid(): number {
    if (!this.helper.pid) throw new Error('no helper process');
    return this.helper.pid;
  }

  /** argv run inside the private mount namespace. */
  enter(argv: readonly string[]): string[] {
    return ['nsenter', `--mount=/proc/${this.pid}/ns/mnt`, '--', ...argv];
  }

  exec(argv: readonly string[], opts: { input?: string } = {}): Promise<RunResult> {
    return run(this.enter(argv), opts);
  }

  /** A path as the namespace sees it, readable from outside through the helper's root. */
  view(path: string): string {
    return `/proc/${this.pid}/root${path}`;
  }

  async mountTmpfs(dir: string, size: string): Promise<void> {
    await runOk(this.enter(['mount', '-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tscni-test', dir]));
  }

  async remount(dir: string, mode: 'ro' | 'rw'): Promise<void> {
    await runOk(this.enter(['mount', '-o', `remount,${mode}`, dir]));
  }

  /** Free blocks of the file system at `dir` (in the namespace). */
  freeBlocks(dir: string): { free: number; bsize: number } {
    const s = statfsSync(this.view(dir));
    return { free: s.bavail, bsize: s.bsize };
  }

  /** Grows or shrinks `file` so that exactly `blocks` blocks stay free on its file system. */
  async leaveFree(dir: string, file: string, blocks: number): Promise<void> {
    const before = this.freeBlocks(dir);
    let size = 0;
    try {
      size = Number((await runOk(this.enter(['stat', '-c', '%s', file]))).stdout.trim());
    } catch {
      size = 0; // no filler yet
    }
    const want = Math.max(0, size + (before.free - blocks) * before.bsize);
    await runOk(this.enter(['truncate', '-s', '0', file]));
    if (want > 0) await runOk(this.enter(['fallocate', '-l', String(want), file]));
  }

  /** Ends the helper (by its PID); its namespace and every mount in it go with it. Idempotent. */
  async destroy(): Promise<void> {
    if (this.helper.exitCode !== null || this.helper.signalCode !== null) return;
    const exited = new Promise((r) => this.helper.once('exit', r));
    this.helper.kill('SIGKILL');
    await exited;
  }
}
