/**
 * Network namespaces without nsenter: run synchronous code (a socket() call, a sysctl write under
 * /proc/sys/net) on this thread inside a container's namespace, and hand a namespace to the
 * kernel as a file descriptor (IFLA_NET_NS_FD). Switching is Bun only (setns through FFI).
 */
import { closeSync, openSync, statSync } from 'node:fs';
import { errnoName, errnoText } from './errno';
import { libc } from './libc';

const CLONE_NEWNET = 0x40000000;

/** A failed namespace switch; `errno` is the name, e.g. 'ENOENT'. */
export class NetnsError extends Error {
  readonly errno: string;
  constructor(code: number, what: string) {
    super(`${what}: ${errnoText(code)} (${errnoName(code)})`);
    this.name = 'NetnsError';
    this.errno = errnoName(code);
  }
}

/**
 * Runs `fn` with this thread switched into the network namespace at `nsPath`, then switches
 * back (also when `fn` throws). `fn` must be synchronous: a promise would run its remainder in
 * the wrong namespace, so it is refused. Throws if switching back fails: the thread would
 * otherwise go on in the container's namespace.
 */
export function inNetns<T>(nsPath: string, fn: () => T): T {
  const c = libc();
  const home = openSync('/proc/thread-self/ns/net', 'r');
  try {
    const target = openSync(nsPath, 'r');
    try {
      if (c.setns(target, CLONE_NEWNET) < 0) throw new NetnsError(c.errno(), `setns(${nsPath})`);
    } finally {
      closeSync(target);
    }
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: fn() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    if (c.setns(home, CLONE_NEWNET) < 0) {
      throw new NetnsError(c.errno(), `setns back from ${nsPath}: this thread is stuck there`);
    }
    if (!outcome.ok) throw outcome.error;
    const result = outcome.value;
    if (isThenable(result)) throw new Error(`inNetns(${nsPath}): the callback must be synchronous`);
    return result;
  } finally {
    closeSync(home);
  }
}

const isThenable = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';

/** Opens `nsPath` (e.g. /run/netns/x, /proc/<pid>/ns/net), passes the fd to `fn`, closes it. */
export function withNetnsFd<T>(nsPath: string, fn: (fd: number) => T): T {
  const fd = openSync(nsPath, 'r');
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** The namespace inode of a netns path; by default this thread's own (to check where we are). */
export const netnsInode = (nsPath = '/proc/thread-self/ns/net'): number => statSync(nsPath).ino;
