/**
 * STATUS (CNI 1.1): ready when the store directory is writable, its file system has room for an
 * ADD, and every range set still has a free address; otherwise code 50. Cheap: no lock, and the
 * free-address probe starts after the last reserved address, where round-robin allocation
 * leaves free space.
 */
import { accessSync, constants, existsSync, statfsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { pickNext } from '../../lib/ipam/allocator';
import { NetworkStore } from '../../lib/ipam/disk-store';
import { rangeSetString } from '../../lib/ipam/ranges';
import { loadConfig } from '../../lib/ipam/config';

/**
 * What one ADD may write: a lease, the cursor, an index entry and the stamp, each a block (a
 * page on tmpfs), plus their temp copies. Below this, ADD would fail on a full disk.
 */
const MIN_FREE_BLOCKS = 16;
const MIN_FREE_INODES = 8;

/** The file system holding `dir` has room for an ADD (a read-only one was caught by access()). */
function checkRoom(dir: string): void {
  const fs = statfsSync(dir);
  const full = fs.bavail < MIN_FREE_BLOCKS;
  // Some file systems report no inode limit (files = 0).
  const noInodes = fs.files > 0 && fs.ffree < MIN_FREE_INODES;
  if (full || noInodes)
    throw new CniError(
      ErrorCode.NotAvailable,
      `host-local store ${dir}: no space left on its file system`,
      `${fs.bavail * fs.bsize} bytes and ${fs.ffree} inodes free`,
    );
}

/** The directory that ADD would write into, or the nearest existing ancestor it would create it in. */
function checkWritable(path: string): void {
  let p = resolve(path);
  for (;;) {
    try {
      if (!statSync(p).isDirectory()) throw new CniError(ErrorCode.NotAvailable, `store path ${p} is not a directory`);
      accessSync(p, constants.W_OK);
      checkRoom(p);
      return;
    } catch (e) {
      if (e instanceof CniError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && dirname(p) !== p) {
        p = dirname(p);
        continue;
      }
      throw new CniError(ErrorCode.NotAvailable, `store path ${p} is not writable`, (e as Error).message);
    }
  }
}

export async function status(inv: Invocation): Promise<void> {
  const conf = loadConfig(inv.config, inv.cniArgs);
  const dir = join(resolve(conf.dataDir), inv.networkName);
  checkWritable(dir);
  if (!existsSync(dir)) return; // nothing allocated yet; ADD will create it
  const store = NetworkStore.open(conf.dataDir, inv.networkName, false);
  conf.ranges.forEach((set, index) => {
    const free = pickNext(set, store.lastReserved(index), {
      claim: (ip) => !store.exists(ip),
      names: () => store.names(),
    });
    if (!free)
      throw new CniError(ErrorCode.NotAvailable, `no IP addresses available in range set: ${rangeSetString(set)}`);
  });
}
