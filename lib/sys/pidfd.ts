/**
 * Waiting for a process that is not our child to exit: poll(2) on its pidfd, which becomes
 * readable when it exits (Linux 5.3). dnsname stops a network's dnsmasq this way and returns as
 * soon as it is gone, without a sleep loop. Where there is no pidfd (Node.js, an old C library
 * or kernel) it says so and the caller waits another way.
 */
import { available, libc } from './libc';

const POLLIN = 1;

export interface ExitWatch {
  /** True once the process has exited; false after timeoutMs. */
  readonly exited: (timeoutMs: number) => boolean;
  readonly close: () => void;
}

/** A watch on `pid`'s exit; undefined when pidfds are not available (or the process is gone already: ESRCH). */
export function watchExit(pid: number): ExitWatch | undefined {
  if (!available()) return undefined;
  const c = libc();
  const fd = c.pidfdOpen(pid);
  if (fd === undefined || fd < 0) return undefined;
  let open = true;
  return {
    exited: (timeoutMs) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        if (c.pollOne(fd, POLLIN, Math.max(0, end - Date.now())) > 0) return true;
        if (Date.now() >= end) return false;
      }
    },
    close: () => {
      if (open) c.close(fd);
      open = false;
    },
  };
}
