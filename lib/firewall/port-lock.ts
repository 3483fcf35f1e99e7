/**
 * One lock for port-forwarding setups across processes. Choosing a host port is a read (which
 * ports are taken, which shared chains exist) followed by a write; two ADDs at once could both
 * see a port free, or both create the shared chains (and an iptables-restore that declares an
 * existing chain empties it, dropping the other's entry rule). The kernel drops the flock when
 * its holder dies. Uncontended it costs a fraction of a millisecond.
 */
import { join } from 'node:path';
import { withFlock } from '../sys/flock';
import { SafeDir } from '../sys/safe-fs';
import { runDirOf } from '../state/run-dir';

const LOCK_FILE = 'port-forwarding.lock';

export function withPortForwardingLock<T>(fn: () => Promise<T>): Promise<T> {
  const runDir = runDirOf(process.env);
  const open = (): number => {
    const dir = SafeDir.require(runDir, { create: true, mode: 0o755 });
    try {
      return dir.openLockFile(LOCK_FILE); // created and opened without following a planted link
    } finally {
      dir.close();
    }
  };
  return withFlock({ path: join(runDir, LOCK_FILE), name: 'the port-forwarding setup', open }, fn);
}
