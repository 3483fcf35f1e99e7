/**
 * Entering a container's namespace with errors that say what went wrong: a path that does not
 * exist, or a file that is not a network namespace (setns refuses it with EINVAL).
 */
import { existsSync } from 'node:fs';
import { CniError, ErrorCode } from '../cni/errors';
import type { Rtnl } from '../netlink';
import { inNetns, NetnsError } from '../sys/netns';
import { openRtnl } from './rtnl';

/** True when the path exists (a vanished namespace is not an error for DEL). */
export const netnsExists = (netns: string): boolean => netns !== '' && existsSync(netns);

/** Throws the reference's error when the container's namespace file is not there (ADD, CHECK). */
export function requireNetns(netns: string): void {
  if (!netnsExists(netns))
    throw new CniError(ErrorCode.Internal, `failed to open netns ${JSON.stringify(netns)}: no such file or directory`);
}

function explained(netns: string, e: unknown): unknown {
  if (e instanceof NetnsError && e.errno === 'EINVAL')
    return new CniError(ErrorCode.Internal, `failed to open netns ${JSON.stringify(netns)}: not a network namespace`);
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
