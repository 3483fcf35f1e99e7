/**
 * "Someone has read this file": an inotify watch on one file (its inode, so a later rename over
 * the path does not count) for IN_CLOSE_NOWRITE, the event a reader's close raises. dnsname
 * uses it to know that dnsmasq has re-read its hosts file (it does so asynchronously, after
 * SIGHUP or at start-up) without asking it over DNS. The wait is poll(2) on the inotify
 * descriptor with the time left: no sleeps. Only the executable (Bun's FFI) has inotify: under
 * Node.js `watchReads` returns undefined and callers take another way.
 */
import { errnoNumber } from './errno';
import { available, libc } from './libc';

const IN_CLOEXEC = 0o2000000;
const IN_NONBLOCK = 0o4000;
const IN_CLOSE_NOWRITE = 0x10;
/** The watch went away: the file was deleted or its file system unmounted. */
const IN_IGNORED = 0x8000;
const IN_DELETE_SELF = 0x400;
const POLLIN = 1;
const EVENT_HEADER = 16; // int wd; uint32 mask, cookie, len

export interface ReadWatch {
  /** Resolves true once the file was closed by a reader after the watch began; false if it went away, or after timeoutMs. */
  readonly read: (timeoutMs: number) => boolean;
  readonly close: () => void;
}

/** Watches `path` for a reader's close; undefined where inotify is not to be had (no FFI, no instances left). */
export function watchReads(path: string): ReadWatch | undefined {
  if (!available()) return undefined;
  const c = libc();
  const fd = c.inotifyInit1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) return undefined; // EMFILE: the user's inotify instances are used up
  if (c.inotifyAddWatch(fd, path, IN_CLOSE_NOWRITE | IN_DELETE_SELF) < 0) {
    c.close(fd);
    return undefined;
  }
  const buf = new Uint8Array(4096);
  const view = new DataView(buf.buffer);
  let open = true;
  return {
    read: (timeoutMs) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const n = c.read(fd, buf, buf.length);
        if (n > 0) {
          for (let off = 0; off + EVENT_HEADER <= n; off += EVENT_HEADER + view.getUint32(off + 12, true)) {
            const mask = view.getUint32(off + 4, true);
            if (mask & IN_CLOSE_NOWRITE) return true;
            if (mask & (IN_IGNORED | IN_DELETE_SELF)) return false;
          }
          continue;
        }
        if (n < 0 && c.errno() !== errnoNumber('EAGAIN') && c.errno() !== errnoNumber('EINTR')) return false;
        const left = end - Date.now();
        if (left <= 0) return false;
        c.pollOne(fd, POLLIN, left);
      }
    },
    close: () => {
      if (open) c.close(fd);
      open = false;
    },
  };
}
