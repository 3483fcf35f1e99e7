/**
 * The errors of tscni's state files and locks, and safe-fs's warning hook, apart from the code
 * that raises them: the dispatcher maps them to CNI codes (lib/cni/errors.ts) and sets the hook
 * on every call, and a plugin that touches no files should not load safe-fs, its hashes and
 * raw-text for that (nor flock's C library binding).
 */

/** A state path that is not what tscni keeps there (a link, a FIFO, a directory, a huge file). */
export class UnsafePathError extends Error {
  constructor(
    readonly path: string,
    readonly why: string,
  ) {
    super(`${path}: ${why}`);
    this.name = 'UnsafePathError';
  }
}

/** A lock could not be taken; `lock` says which (lib/cni/errors.ts maps it to code 11, try again later). */
export class LockError extends Error {
  constructor(
    readonly lock: string,
    readonly details: string,
  ) {
    super(`failed to lock ${lock}: ${details}`);
    this.name = 'LockError';
  }
}

/** Where safe-fs says what it found and worked around; the entry point sets it to lib/log's warn. */
let warner: (msg: string) => void = () => undefined;
export function setSafeFsWarner(fn: (msg: string) => void): void {
  warner = fn;
}
export const safeFsWarn = (msg: string): void => warner(msg);

/** Where lib/sys traces what it waited for (TSCNI_DEBUG); the entry point sets it to lib/log's debug. */
let tracer: ((msg: string) => void) | undefined;
export function setSysTracer(fn: (msg: string) => void): void {
  tracer = fn;
}
export const sysTrace = (msg: () => string): void => tracer?.(msg());
