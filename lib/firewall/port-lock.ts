/**
 * One lock for port-forwarding setups across processes. Choosing a host port is a read (which
 * ports are taken, which shared chains exist) followed by a write; two ADDs at once could both
 * see a port free, or both create the shared chains (and an iptables-restore that declares an
 * existing chain empties it, dropping the other's entry rule). The kernel drops the flock when
 * its holder dies. Uncontended it costs a fraction of a millisecond.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { withFlock } from '../sys/flock';
import { runDirOf } from '../state/run-dir';
import { available } from '../sys/libc';

export function withPortForwardingLock<T>(fn: () => Promise<T>): Promise<T> {
  if (!available()) return fn(); // under Node.js (unit tests): one process, nothing to exclude
  const dir = runDirOf(process.env);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const file = join(dir, 'port-forwarding.lock');
  closeSync(openSync(file, 'a', 0o600));
  return withFlock(file, 'the port-forwarding setup', fn);
}
