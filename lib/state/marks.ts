/**
 * Teardown marks: how `tscni reload` tells a container that is being deleted from one whose
 * rules were flushed.
 *
 * A runtime deletes an attachment plugin by plugin, in reverse chain order (portmap, then
 * bridge), and drops its libcni cache entry last. Between the first plugin's DEL and the lease's
 * release, nothing in the cache or the store says the container is going, yet its port forwarding
 * is already gone — exactly what a flush looks like. So every DEL of ours that removes rules
 * first writes a mark `<runDir>/teardown/<net>:<id>:<ifname>`; reload skips marked attachments
 * and checks the mark again after restoring (undoing what it restored when the mark appeared
 * meanwhile). host-local DEL removes the mark once the lease is gone (the lease then says it),
 * and ADD of the same attachment removes a mark left over; reload prunes the rest.
 *
 * Marks live in the run directory (run-dir.ts), so they go with a reboot, as do the rules and the
 * containers. Marks are best effort: a DEL never fails for want of one.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Env } from '../cni/io';
import type { Attachment } from '../cni/invocation';
import { validateContainerId, validateIfName, validateNetworkName } from '../cni/names';
import { debug, warn } from '../log';
import { sha256hex } from '../sys/hash';
import { runDirOf } from './run-dir';

const marksDir = (runDir: string): string => join(runDir, 'teardown');

/**
 * `<net>:<id>:<ifname>`: ':' is allowed in none of the three, so the name is unambiguous; too
 * long for a file name, it is hashed (the file's content names the attachment either way).
 */
function markName(a: Attachment): string {
  const key = `${a.networkName}:${a.containerId}:${a.ifName}`;
  return Buffer.byteLength(key) <= 200 ? key : `~${sha256hex(key)}`;
}

const content = (a: Attachment): string => `${a.networkName}\n${a.containerId}\n${a.ifName}\n`;

/** Marks the attachment as being torn down (DEL, before it removes any rule). */
export function markTeardown(env: Env, a: Attachment): void {
  const dir = marksDir(runDirOf(env));
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, markName(a)), content(a), { mode: 0o600 });
  } catch (e) {
    warn(
      `cannot mark ${markName(a)} as torn down in ${dir} (tscni reload may restore its rules): ${(e as Error).message}`,
    );
  }
}

/** Removes the attachment's mark, if any (ADD of the attachment; host-local DEL once its lease is gone). */
export function clearTeardown(env: Env, a: Attachment): void {
  removeMark(runDirOf(env), a);
}

export function removeMark(runDir: string, a: Attachment): void {
  try {
    rmSync(join(marksDir(runDir), markName(a)), { force: true });
  } catch (e) {
    debug(`cannot remove the teardown mark of ${markName(a)}: ${(e as Error).message}`);
  }
}

export function isMarked(runDir: string, a: Attachment): boolean {
  try {
    statSync(join(marksDir(runDir), markName(a)));
    return true;
  } catch {
    return false;
  }
}

export interface Mark {
  readonly attachment: Attachment;
  /** When it was written (ms since the epoch). */
  readonly since: number;
}

/** Every mark; unreadable or malformed ones are left out (reload never acts on them). */
export function listMarks(runDir: string): Mark[] {
  const dir = marksDir(runDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Mark[] = [];
  for (const name of names) {
    try {
      const [networkName, containerId, ifName] = readFileSync(join(dir, name), 'utf8').split('\n');
      const a: Attachment = {
        networkName: validateNetworkName(networkName ?? ''),
        containerId: validateContainerId(containerId ?? ''),
        ifName: validateIfName(ifName ?? ''),
      };
      if (markName(a) === name) out.push({ attachment: a, since: statSync(join(dir, name)).mtimeMs });
    } catch {
      // gone meanwhile, or not a mark of ours
    }
  }
  return out;
}
