/**
 * Entering a container's namespace with errors that say what went wrong: a path that does not
 * exist, or a file that is not a network namespace. CNI_NETNS is the runtime's to choose and
 * may name anything (a FIFO would block an open forever, a regular file would fail late in
 * netlink), so every verb that works in the container checks it first (lib/sys/netns.ts:
 * fstatfs NSFS_MAGIC, opened O_NONBLOCK, NS_GET_NSTYPE), before anything is allocated. The
 * checked descriptor is kept for the rest of the call (holdNetns): the verb's later switches
 * and moves into the namespace use it, without checking the path again.
 */
import { CniError, ErrorCode } from '../cni/errors';
import { warn } from '../log';
import type { Rtnl } from '../netlink';
import { holdNetns, inNetns, NetnsError, NotNetnsError, openNetnsFd } from '../sys/netns';
import { openRtnl } from './rtnl';

const failedToOpen = (netns: string, why: string): CniError =>
  new CniError(ErrorCode.Internal, `failed to open netns ${JSON.stringify(netns)}: ${why}`);

/**
 * For DEL: true when `netns` is a network namespace to clean up in. A path that is gone is
 * simply false (the namespace went first); one that is something else is false too, with a
 * warning: DEL then cleans up what it can outside the container and succeeds, where the
 * reference fails (and fails again on every retry).
 */
export function netnsExists(netns: string): boolean {
  if (netns === '') return false;
  try {
    holdNetns(netns);
    return true;
  } catch (e) {
    if (e instanceof NotNetnsError && !e.missing) warn(`CNI_NETNS ${JSON.stringify(netns)} ignored: ${e.why}`);
    return false;
  }
}

/** Throws the reference's error when CNI_NETNS is not a network namespace (ADD, CHECK). */
export function requireNetns(netns: string): void {
  try {
    holdNetns(netns);
  } catch (e) {
    if (e instanceof NotNetnsError) throw failedToOpen(netns, e.missing ? 'no such file or directory' : e.why);
    throw e;
  }
}

/** A new descriptor of the namespace, checked (sbr locks it and closes it), or the reference's error. */
export function openNetns(netns: string): number {
  try {
    return openNetnsFd(netns);
  } catch (e) {
    if (e instanceof NotNetnsError) throw failedToOpen(netns, e.missing ? 'no such file or directory' : e.why);
    throw e;
  }
}

function explained(netns: string, e: unknown): unknown {
  if (e instanceof NotNetnsError) return failedToOpen(netns, e.missing ? 'no such file or directory' : e.why);
  if (e instanceof NetnsError && e.errno === 'EINVAL') return failedToOpen(netns, 'not a network namespace');
  return e;
}

/** A netlink socket inside the namespace at `netns`. */
export function openContainer(netns: string): Rtnl {
  requireNetns(netns);
  try {
    return openRtnl(netns);
  } catch (e) {
    throw explained(netns, e);
  }
}

/** Runs synchronous `fn` on this thread inside the namespace at `netns` (e.g. /proc/sys/net work). */
export function inContainer<T>(netns: string, fn: () => T): T {
  requireNetns(netns);
  let entered = false;
  try {
    return inNetns(netns, () => {
      entered = true;
      return fn();
    });
  } catch (e) {
    throw entered ? e : explained(netns, e);
  }
}
