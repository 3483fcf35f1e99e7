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
 *
 * The run directory is the operator's; `teardown/` and the marks in it go through safe-fs: a link
 * planted there is never followed (a mark replaces it by rename; a linked `teardown` is replaced
 * by a directory), and only regular files of bounded size are read back.
 */
import { join } from 'node:path';
import type { Env } from '../cni/io';
import type { Attachment } from '../cni/invocation';
import { validateContainerId, validateIfName, validateNetworkName } from '../cni/names';
import { debug, warn } from '../log';
import { sha256hex } from '../sys/hash';
import { SafeDir } from '../sys/safe-fs';
import { runDirOf } from './run-dir';

const MARKS = 'teardown';
const marksDir = (runDir: string): string => join(runDir, MARKS);
/** A mark names three bounded names: anything bigger is not ours. */
const MAX_MARK = 4096;

/** Runs fn on the marks directory (created when asked); undefined when there is none. */
function inMarks<T>(runDir: string, create: boolean, fn: (d: SafeDir) => T): T | undefined {
  const run = SafeDir.open(runDir, create ? { create: true, mode: 0o755 } : {});
  if (!run) return undefined;
  try {
    const d = run.sub(MARKS, create ? { create: true, mode: 0o700, replace: true } : {});
    if (!d) return undefined;
    try {
      return fn(d);
    } finally {
      d.close();
    }
  } finally {
    run.close();
  }
}

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
    inMarks(runDirOf(env), true, (d) => d.write(markName(a), content(a), 0o600));
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
    inMarks(runDir, false, (d) => d.unlink(markName(a)));
  } catch (e) {
    debug(`cannot remove the teardown mark of ${markName(a)}: ${(e as Error).message}`);
  }
}

export function isMarked(runDir: string, a: Attachment): boolean {
  try {
    return inMarks(runDir, false, (d) => d.lstat(markName(a))?.isFile() === true) ?? false;
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
  const out: Mark[] = [];
  try {
    inMarks(runDir, false, (d) => {
      for (const name of d.list()) {
        try {
          const text = d.readText(name, MAX_MARK);
          const st = d.lstat(name);
          if (text === undefined || !st) continue;
          const [networkName, containerId, ifName] = text.split('\n');
          const a: Attachment = {
            networkName: validateNetworkName(networkName ?? ''),
            containerId: validateContainerId(containerId ?? ''),
            ifName: validateIfName(ifName ?? ''),
          };
          if (markName(a) === name) out.push({ attachment: a, since: Number(st.mtimeMs) });
        } catch {
          // gone meanwhile, a link or special file, or not a mark of ours
        }
      }
    });
  } catch {
    return out; // no usable marks directory: nothing marked
  }
  return out;
}
