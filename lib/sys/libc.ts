/**
 * The C library functions tscni calls directly, through Bun's FFI: the kernel interfaces that
 * Node.js and Bun do not expose (flock here; netlink sockets and setns elsewhere). Bound on
 * first use, once per process (~0.2 ms). Only the Bun executable has them: under Node.js (the
 * unit tests) `available()` is false and callers take their Node path.
 */
type Ffi = typeof import('bun:ffi');

export interface Libc {
  flock(fd: number, operation: number): number;
  /** errno of the last failed call on this thread. */
  errno(): number;
}

export const LOCK_EX = 2;
export const LOCK_UN = 8;
export const EINTR = 4;

let bound: Libc | undefined;

export const available = (): boolean => typeof Bun !== 'undefined';

export function libc(): Libc {
  if (bound) return bound;
  if (!available()) throw new Error('C library calls need the tscni executable');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- exists only inside Bun
  const ffi = require('bun:ffi') as Ffi;
  const { symbols } = ffi.dlopen('libc.so.6', {
    flock: { args: [ffi.FFIType.i32, ffi.FFIType.i32], returns: ffi.FFIType.i32 },
    __errno_location: { args: [], returns: ffi.FFIType.ptr },
  });
  bound = {
    flock: (fd, op) => symbols.flock(fd, op),
    errno: () => {
      const p = symbols.__errno_location();
      return p === null ? 0 : ffi.read.i32(p, 0);
    },
  };
  return bound;
}
