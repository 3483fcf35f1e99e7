/**
 * `tscni <command>` run in a sandbox's host namespace against networks of the sandbox's own
 * `net.d`, cache and run directory (test-only module), with the names the CLI derives: the
 * container ID of a netns path, the cache entry and the host-local leases of an attachment.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachePath } from '../runtime/cache';
import { BIN_DIR, Sandbox, run, type RunResult } from './sandbox';

/** The container ID `tscni add|del|check` derives from a netns path (cnitool's rule). */
export function cnitoolId(netnsPath: string): string {
  return `cnitool-${createHash('sha512').update(netnsPath).digest('hex').slice(0, 20)}`;
}

/** A network list as written to net.d. */
export interface Conflist {
  readonly name: string;
  readonly plugins: ReadonlyArray<Record<string, unknown>>;
  readonly cniVersion?: string;
}

export class CliSandbox {
  /** The environment of every `tscni` call (more per call through `extra`). */
  readonly env: Record<string, string>;

  private constructor(readonly sb: Sandbox) {
    this.env = {
      NETCONFPATH: this.dir('net.d'),
      CNI_PATH: BIN_DIR,
      CNI_CACHE_DIR: this.dir('cache'),
      TSCNI_RUN_DIR: this.dir('run'),
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    };
  }

  /**
   * A sandbox with the network lists `lists` makes (given `dir`, for the paths in them) in its
   * net.d, in order (`10-<name>.conflist`, `20-…`).
   */
  static async create(
    tag: string,
    lists: (dir: (...p: string[]) => string) => readonly Conflist[],
  ): Promise<CliSandbox> {
    const c = new CliSandbox(await Sandbox.create(tag));
    mkdirSync(c.dir('net.d'));
    lists((...p) => c.dir(...p)).forEach((l, i) =>
      writeFileSync(
        c.dir('net.d', `${(i + 1) * 10}-${l.name}.conflist`),
        JSON.stringify({ cniVersion: '1.0.0', ...l }),
      ),
    );
    return c;
  }

  /** A path in the sandbox's temporary directory. */
  dir(...p: string[]): string {
    return join(this.sb.dir, ...p);
  }
  netns(name: string): string {
    return `/run/netns/${this.sb.nsName(name)}`;
  }
  cid(name: string): string {
    return cnitoolId(this.netns(name));
  }

  /** The command line of `tscni <args>` in the sandbox host. */
  argv(args: readonly string[], extra: Record<string, string> = {}): string[] {
    const env = Object.entries({ ...this.env, ...extra }).map(([k, v]) => `${k}=${v}`);
    return ['ip', 'netns', 'exec', this.sb.hostNs, 'env', ...env, join(BIN_DIR, 'tscni'), ...args];
  }
  tscni(args: readonly string[], extra: Record<string, string> = {}, timeoutMs = 300_000): Promise<RunResult> {
    return run(this.argv(args, extra), { timeoutMs });
  }

  /** libcni's cache entry of an attachment. */
  cacheFile(net: string, id: string, ifName = 'eth0'): string {
    return cachePath(this.env['CNI_CACHE_DIR'] ?? this.dir('cache'), net, id, ifName);
  }
  /** The addresses host-local leased to `id` in network `net` (its dataDir `leases`). */
  leasesOf(net: string, id: string): string[] {
    const d = this.dir('leases', net);
    try {
      return readdirSync(d).filter((f) => /^[0-9]/.test(f) && readFileSync(join(d, f), 'utf8').startsWith(`${id}\r\n`));
    } catch {
      return [];
    }
  }

  destroy(): Promise<void> {
    return this.sb.destroy();
  }
}
