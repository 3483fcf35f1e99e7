/**
 * One lock for port-forwarding setups across processes. Choosing a host port is a read (which
 * ports are taken, which shared chains exist) followed by a write; two ADDs at once could both
 * see a port free, or both create the shared chains (and an iptables-restore that declares an
 * existing chain empties it, dropping the other's entry rule). The kernel drops the flock when
 * its holder dies. Uncontended it costs a fraction of a millisecond.
 */
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { withFlock } from '../sys/flock';
import { SafeDir } from '../sys/safe-fs';
import { runDirOf } from '../state/run-dir';
import { available } from '../sys/libc';

const LOCK_FILE = 'port-forwarding.lock';

export function withPortForwardingLock<T>(fn: () => Promise<T>): Promise<T> {
  if (!available()) return fn(); // under Node.js (unit tests): one process, nothing to exclude
  const dir = SafeDir.require(runDirOf(process.env), { create: true, mode: 0o755 });
  try {
    closeSync(dir.openLockFile(LOCK_FILE)); // created without following a planted link
  } finally {
    dir.close();
  }
  return withFlock(join(dir.path, LOCK_FILE), 'the port-forwarding setup', fn);
}
