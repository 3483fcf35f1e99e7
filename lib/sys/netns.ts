/**
 * Network namespaces without nsenter: run synchronous code (a socket() call, a sysctl write under
 * /proc/sys/net) on this thread inside a container's namespace, and hand a namespace to the
 * kernel as a file descriptor (IFLA_NET_NS_FD). Switching is Bun only (setns through FFI).
 */
import { closeSync, constants, openSync, statfsSync, statSync } from 'node:fs';
import { errnoName, errnoText } from './errno';
import { available, libc } from './libc';

const CLONE_NEWNET = 0x40000000;
/** linux/magic.h: the namespace file system, and /proc (where old kernels kept namespace files). */
const NSFS_MAGIC = 0x6e736673;
const PROC_SUPER_MAGIC = 0x9fa0;
/** linux/nsfs.h: _IO(0xb7, 0x3), the type (CLONE_NEW*) of the namespace behind a descriptor. */
const NS_GET_NSTYPE = 0xb703;

/** A failed namespace switch; `errno` is the name, e.g. 'ENOENT'. */
export class NetnsError extends Error {
  readonly errno: string;
  constructor(code: number, what: string) {
    super(`${what}: ${errnoText(code)} (${errnoName(code)})`);
    this.name = 'NetnsError';
    this.errno = errnoName(code);
  }
}

/** A path that is not a network namespace; `why` says what it is instead (the reference's words where it has them). */
export class NotNetnsError extends Error {
  constructor(
    readonly path: string,
    readonly why: string,
    /** The path does not exist (DEL treats that as a namespace already gone). */
    readonly missing = false,
  ) {
    super(why);
    this.name = 'NotNetnsError';
  }
}

/** The path's file system must be nsfs (or /proc, where old kernels kept namespace files): nothing else is opened. */
export function checkNetnsFs(nsPath: string): void {
  let type: number;
  try {
    type = statfsSync(nsPath).type;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NotNetnsError(
      nsPath,
      `failed to Statfs ${JSON.stringify(nsPath)}: ${code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`,
      code === 'ENOENT',
    );
  }
  if (type !== NSFS_MAGIC && type !== PROC_SUPER_MAGIC)
    throw new NotNetnsError(nsPath, `unknown FS magic on ${JSON.stringify(nsPath)}: ${type.toString(16)}`);
}

/**
 * Opens `nsPath` as a network namespace, or throws NotNetnsError without having blocked: the
 * path's file system must be nsfs (or /proc) before it is opened at all, as the reference
 * checks, so a FIFO, a device or a regular file is never opened; it is opened O_NONBLOCK
 * anyway (a FIFO swapped in meanwhile cannot hang the call), and the descriptor must be an nsfs
 * file of a *network* namespace (a mount namespace's file is nsfs too).
 */
export function openNetnsFd(nsPath: string): number {
  // Under Node.js (unit tests, whose namespaces are stand-in files for fake kernels) only the
  // executable's checks are skipped; the statfs check is tested on its own.
  if (available()) checkNetnsFs(nsPath);
  let fd: number;
  try {
    fd = openSync(nsPath, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NotNetnsError(nsPath, (e as Error).message, code === 'ENOENT');
  }
  if (!available()) return fd;
  try {
    const c = libc();
    const buf = new Uint8Array(120); // struct statfs (x86_64, aarch64)
    if (c.fstatfs(fd, buf) !== 0) throw new NotNetnsError(nsPath, `fstatfs: ${errnoText(c.errno())}`);
    const fdType = Number(new DataView(buf.buffer).getBigInt64(0, true));
    if (fdType !== NSFS_MAGIC)
      throw new NotNetnsError(nsPath, `unknown FS magic on ${JSON.stringify(nsPath)}: ${fdType.toString(16)}`);
    const nsType = c.ioctl(fd, NS_GET_NSTYPE, 0);
    if (nsType !== CLONE_NEWNET) throw new NotNetnsError(nsPath, 'not a network namespace');
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * Namespaces a plugin call has verified (holdNetns), by path, with their open descriptors. A
 * plugin call is a process of its own (cmd/tscni.ts): the descriptors are closed by its exit.
 */
const held = new Map<string, number>();

/**
 * Opens and checks `nsPath` as openNetnsFd does (throwing NotNetnsError) once, and keeps the
 * descriptor: every later switch into it (inNetns) and move of a link into it (withNetnsFd) in
 * this process uses that descriptor instead of opening and checking the path again, so a path
 * swapped meanwhile is not taken either. For plugin verbs only: a long-running process that
 * held paths would keep namespaces alive and take a reused path for its old namespace.
 */
export function holdNetns(nsPath: string): void {
  if (held.has(nsPath)) return;
  const fd = openNetnsFd(nsPath);
  // Under Node.js (unit tests: many calls in one process, stand-in files) nothing is kept.
  if (available()) held.set(nsPath, fd);
  else closeSync(fd);
}

/** `nsPath`'s held descriptor, or a newly opened and checked one that `fn` gets and that is closed after. */
function usingNetnsFd<T>(nsPath: string, fn: (fd: number) => T): T {
  const kept = held.get(nsPath);
  if (kept !== undefined) return fn(kept);
  const fd = openNetnsFd(nsPath);
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
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
    usingNetnsFd(nsPath, (target) => {
      if (c.setns(target, CLONE_NEWNET) < 0) throw new NetnsError(c.errno(), `setns(${nsPath})`);
    });
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

/** Passes a descriptor of the namespace at `nsPath` (e.g. /run/netns/x, /proc/<pid>/ns/net) to `fn`: the held one, else one opened and closed after. */
export function withNetnsFd<T>(nsPath: string, fn: (fd: number) => T): T {
  return usingNetnsFd(nsPath, fn);
}

/** The namespace inode of a netns path; by default this thread's own (to check where we are). */
export const netnsInode = (nsPath = '/proc/thread-self/ns/net'): number => statSync(nsPath).ino;
