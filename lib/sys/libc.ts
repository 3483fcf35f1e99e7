/**
 * The C library functions tscni calls directly, through Bun's FFI: the kernel interfaces that
 * neither Node.js nor Bun expose (netlink and packet sockets, setns, flock, fstatfs, the TUN/TAP
 * and namespace ioctls, inotify, poll, pidfd). This is the only module that touches `bun:ffi`; it
 * binds on first use (~0.2 ms). Only the Bun executable has it: under Node.js (the unit tests)
 * `available()` is false and callers take their fake or Node path.
 */
type Ffi = typeof import('bun:ffi');

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Int32Array | BigInt64Array, length: number): number;
  send(fd: number, buf: Uint8Array, length: number, flags: number): number;
  recv(fd: number, buf: Uint8Array, length: number, flags: number): number;
  bind(fd: number, addr: Uint8Array, length: number): number;
  sendto(fd: number, buf: Uint8Array, length: number, flags: number, addr: Uint8Array, addrLength: number): number;
  /** `addrLength` holds the size of `addr` on the way in and the sender's address length on the way out. */
  recvfrom(
    fd: number,
    buf: Uint8Array,
    length: number,
    flags: number,
    addr: Uint8Array,
    addrLength: Uint32Array,
  ): number;
  close(fd: number): number;
  setns(fd: number, nstype: number): number;
  flock(fd: number, operation: number): number;
  /** fstatfs(2) into `buf` (struct statfs: f_type is its first 8 bytes). */
  fstatfs(fd: number, buf: Uint8Array): number;
  /** ioctl with a pointer argument (a buffer the kernel reads or fills) or a plain integer one. */
  ioctl(fd: number, request: number, arg: Uint8Array | number): number;
  inotifyInit1(flags: number): number;
  inotifyAddWatch(fd: number, path: string, mask: number): number;
  read(fd: number, buf: Uint8Array, length: number): number;
  /** poll(2) on one descriptor: >0 ready (revents in `revents`), 0 timed out, <0 error. */
  pollOne(fd: number, events: number, timeoutMs: number, revents?: Int16Array): number;
  /** pidfd_open(2); undefined where the C library lacks it (glibc < 2.36); -1 with errno on failure (ENOSYS before Linux 5.3). */
  pidfdOpen(pid: number): number | undefined;
  /** errno of the last failed call on this thread. */
  errno(): number;
}

export const LOCK_EX = 2;

/** True in the executable (Bun), where the C library can be called. */
export const available = (): boolean => process.versions['bun'] !== undefined;

let bound: Libc | undefined;

export function libc(): Libc {
  if (bound) return bound;
  if (!available()) throw new Error('calls into the C library need the Bun runtime (the tscni executable)');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- bun:ffi exists only under Bun
  const ffi = require('bun:ffi') as Ffi;
  const { i32, u32, u64, i64, ptr } = ffi.FFIType;
  // glibc; a musl build would name it libc.musl-<arch>.so.1.
  const c = ffi.dlopen('libc.so.6', {
    socket: { args: [i32, i32, i32], returns: i32 },
    setsockopt: { args: [i32, i32, i32, ptr, u32], returns: i32 },
    send: { args: [i32, ptr, u64, i32], returns: i64 },
    recv: { args: [i32, ptr, u64, i32], returns: i64 },
    bind: { args: [i32, ptr, u32], returns: i32 },
    sendto: { args: [i32, ptr, u64, i32, ptr, u32], returns: i64 },
    recvfrom: { args: [i32, ptr, u64, i32, ptr, ptr], returns: i64 },
    close: { args: [i32], returns: i32 },
    setns: { args: [i32, i32], returns: i32 },
    flock: { args: [i32, i32], returns: i32 },
    fstatfs: { args: [i32, ptr], returns: i32 },
    // Variadic in C; on x86-64 and arm64 an integer or pointer third argument travels the same way.
    ioctl: { args: [i32, u64, ptr], returns: i32 },
    inotify_init1: { args: [i32], returns: i32 },
    inotify_add_watch: { args: [i32, ptr, u32], returns: i32 },
    read: { args: [i32, ptr, u64], returns: i64 },
    poll: { args: [ptr, u64, i32], returns: i32 },
    __errno_location: { args: [], returns: ptr },
  }).symbols;
  bound = {
    socket: (d, t, p) => c.socket(d, t, p),
    setsockopt: (fd, level, name, value, length) => c.setsockopt(fd, level, name, value, length),
    send: (fd, buf, length, flags) => Number(c.send(fd, buf, length, flags)),
    recv: (fd, buf, length, flags) => Number(c.recv(fd, buf, length, flags)),
    bind: (fd, addr, length) => c.bind(fd, addr, length),
    sendto: (fd, buf, length, flags, addr, addrLength) => Number(c.sendto(fd, buf, length, flags, addr, addrLength)),
    recvfrom: (fd, buf, length, flags, addr, addrLength) =>
      Number(c.recvfrom(fd, buf, length, flags, addr, addrLength)),
    close: (fd) => c.close(fd),
    setns: (fd, nstype) => c.setns(fd, nstype),
    flock: (fd, op) => c.flock(fd, op),
    fstatfs: (fd, buf) => c.fstatfs(fd, buf),
    // An integer argument goes as a pointer-sized value: Bun passes a number for `ptr` as is.
    ioctl: (fd, request, arg) => c.ioctl(fd, request, arg),
    inotifyInit1: (flags) => c.inotify_init1(flags),
    inotifyAddWatch: (fd, path, mask) => c.inotify_add_watch(fd, Buffer.from(`${path}\0`), mask),
    read: (fd, buf, length) => Number(c.read(fd, buf, length)),
    pollOne: (fd, events, timeoutMs, revents) => {
      // struct pollfd { int fd; short events; short revents; }
      const p = new Int32Array(2);
      p[0] = fd;
      const half = new Int16Array(p.buffer);
      half[2] = events;
      const n = c.poll(p, 1, timeoutMs);
      if (revents) revents[0] = half[3] ?? 0;
      return n;
    },
    pidfdOpen: (pid) => pidfdOpenSymbol(ffi)?.(pid, 0),
    errno: () => {
      const p = c.__errno_location();
      return p === null ? 0 : ffi.read.i32(p, 0);
    },
  };
  return bound;
}

let pidfdBound: ((pid: number, flags: number) => number) | null | undefined;

/** pidfd_open, bound apart: a C library without it must not keep the rest from binding. */
function pidfdOpenSymbol(ffi: Ffi): ((pid: number, flags: number) => number) | null {
  if (pidfdBound !== undefined) return pidfdBound;
  try {
    const { i32, u32 } = ffi.FFIType;
    const c = ffi.dlopen('libc.so.6', { pidfd_open: { args: [i32, u32], returns: i32 } }).symbols;
    pidfdBound = (pid, flags) => c.pidfd_open(pid, flags);
  } catch {
    pidfdBound = null;
  }
  return pidfdBound;
}
