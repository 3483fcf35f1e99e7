/**
 * Network namespace helpers: run synchronous code (e.g. a sysctl write under /proc/sys/net)
 * inside a container's namespace without exec'ing nsenter, and hand a namespace to the kernel
 * as a file descriptor (IFLA_NET_NS_FD).
 */
import { closeSync, openSync, statSync } from 'node:fs';
import { loadLibc } from './socket';

/**
 * Runs `fn` on this thread inside the network namespace at `nsPath` and switches back, also on
 * error. `fn` must be synchronous. Bun only (setns through FFI).
 */
export const withNetns = <T>(nsPath: string, fn: () => T): T => loadLibc().inNetns(nsPath, fn);

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
