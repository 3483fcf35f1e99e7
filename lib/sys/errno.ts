/**
 * Linux errno numbers ↔ names and glibc's strerror text, for the errors rtnetlink and the
 * socket calls return. A fixed table, so messages read the same under Node and Bun.
 */

const TABLE: ReadonlyArray<readonly [number, string, string]> = [
  [1, 'EPERM', 'Operation not permitted'],
  [2, 'ENOENT', 'No such file or directory'],
  [3, 'ESRCH', 'No such process'],
  [4, 'EINTR', 'Interrupted system call'],
  [5, 'EIO', 'Input/output error'],
  [6, 'ENXIO', 'No such device or address'],
  [7, 'E2BIG', 'Argument list too long'],
  [9, 'EBADF', 'Bad file descriptor'],
  [11, 'EAGAIN', 'Resource temporarily unavailable'],
  [12, 'ENOMEM', 'Cannot allocate memory'],
  [13, 'EACCES', 'Permission denied'],
  [14, 'EFAULT', 'Bad address'],
  [16, 'EBUSY', 'Device or resource busy'],
  [17, 'EEXIST', 'File exists'],
  [18, 'EXDEV', 'Invalid cross-device link'],
  [19, 'ENODEV', 'No such device'],
  [20, 'ENOTDIR', 'Not a directory'],
  [22, 'EINVAL', 'Invalid argument'],
  [23, 'ENFILE', 'Too many open files in system'],
  [24, 'EMFILE', 'Too many open files'],
  [28, 'ENOSPC', 'No space left on device'],
  [34, 'ERANGE', 'Numerical result out of range'],
  [36, 'ENAMETOOLONG', 'File name too long'],
  [38, 'ENOSYS', 'Function not implemented'],
  [39, 'ENOTEMPTY', 'Directory not empty'],
  [40, 'ELOOP', 'Too many levels of symbolic links'],
  [42, 'ENOMSG', 'No message of desired type'],
  [61, 'ENODATA', 'No data available'],
  [67, 'ENOLINK', 'Link has been severed'],
  [71, 'EPROTO', 'Protocol error'],
  [75, 'EOVERFLOW', 'Value too large for defined data type'],
  [90, 'EMSGSIZE', 'Message too long'],
  [93, 'EPROTONOSUPPORT', 'Protocol not supported'],
  [95, 'EOPNOTSUPP', 'Operation not supported'],
  [97, 'EAFNOSUPPORT', 'Address family not supported by protocol'],
  [98, 'EADDRINUSE', 'Address already in use'],
  [99, 'EADDRNOTAVAIL', 'Cannot assign requested address'],
  [100, 'ENETDOWN', 'Network is down'],
  [101, 'ENETUNREACH', 'Network is unreachable'],
  [105, 'ENOBUFS', 'No buffer space available'],
  [110, 'ETIMEDOUT', 'Connection timed out'],
  [113, 'EHOSTUNREACH', 'No route to host'],
  [114, 'EALREADY', 'Operation already in progress'],
];

const BY_NUMBER = new Map(TABLE.map(([n, name, text]) => [n, { name, text }]));
const BY_NAME = new Map(TABLE.map(([n, name]) => [name, n]));

/** 'EEXIST' for 17; 'E<n>' for numbers outside the table. */
export const errnoName = (n: number): string => BY_NUMBER.get(n)?.name ?? `E${n}`;

/** 'File exists' for 17; 'errno <n>' for numbers outside the table. */
export const errnoText = (n: number): string => BY_NUMBER.get(n)?.text ?? `errno ${n}`;

/** 17 for 'EEXIST'; throws for a name outside the table (a programming error). */
export function errnoNumber(name: string): number {
  const n = BY_NAME.get(name);
  if (n === undefined) throw new Error(`unknown errno name ${name}`);
  return n;
}
