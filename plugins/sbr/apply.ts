/**
 * Carrying out sbr's steps on a socket inside the container, each with its undo registered first
 * (a failed ADD leaves no rule or copied route behind and gives the main table back what it
 * took), and the reference's message for each kind of failure. The namespace is locked while
 * sbr works in it, on the namespace file as the reference locks it, so two sbr calls for two
 * interfaces of one container never pick the same table.
 */
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { withFlock } from '../../lib/sys/flock';
import { openNetns } from '../../lib/net/open-netns';
import { isErrno, type RouteSpec, type Rtnl } from '../../lib/netlink';
import { UndoStack } from '../../lib/undo';
import type { Step } from './plan';

const failed = (msg: string, e: unknown): CniError =>
  new CniError(ErrorCode.Internal, `${msg}: ${e instanceof Error ? e.message : String(e)}`);

/**
 * A route as the kernel keys it (table, destination, metric; IPv6 routes get metric 1024 when
 * none is given), so a copy that replaced a route this ADD added is undone only once.
 */
function routeKey(r: RouteSpec): string {
  const six = (r.dst === 'default' ? (r.gateway ?? '') : r.dst).includes(':');
  const dst = r.dst === 'default' ? (six ? '::/0' : '0.0.0.0/0') : r.dst;
  return `${r.table ?? ''} ${dst} ${r.metric ?? (six ? 1024 : 0)}`;
}

/** An undo that deletes a route: one already gone is fine. */
const dropRoute = (ctr: Rtnl, r: RouteSpec) => async (): Promise<void> => {
  try {
    ctr.deleteRoute(r);
  } catch (e) {
    if (!isErrno(e, 'ESRCH')) throw e;
  }
};

function applyOne(ctr: Rtnl, step: Step, undo: UndoStack, fixedTable: boolean, added: Set<string>): void {
  switch (step.op) {
    case 'addRule':
      try {
        ctr.addRule(step.rule);
      } catch (e) {
        throw failed(fixedTable ? 'failed to add rule' : 'Failed to add rule', e);
      }
      undo.push(`delete rule from ${step.rule.src ?? ''}`, async () => ctr.deleteRule(step.rule));
      return;
    case 'addRoute':
      try {
        ctr.addRoute(step.route);
      } catch (e) {
        throw failed(`Failed to add default route to ${step.route.gateway ?? ''}`, e);
      }
      added.add(routeKey(step.route));
      undo.push(`delete route ${step.route.dst}`, dropRoute(ctr, step.route));
      return;
    case 'replaceRoute':
      try {
        ctr.replaceRoute(step.route);
      } catch (e) {
        throw failed('Failed to readd route', e);
      }
      // The table was free: what the copy replaced was ours (the default route), already undone.
      if (added.has(routeKey(step.route))) return;
      added.add(routeKey(step.route));
      undo.push(`delete route ${step.route.dst}`, dropRoute(ctr, step.route));
      return;
    case 'deleteRoute':
      try {
        ctr.deleteRoute(step.route);
      } catch (e) {
        throw failed('Failed to delete route', e);
      }
      undo.push(`put back route ${step.route.dst}`, async () => ctr.addRoute(step.route));
      return;
  }
}

/** Applies `steps` in order; on a failure, undoes the ones done and throws the failure. */
export async function applySteps(ctr: Rtnl, steps: readonly Step[], fixedTable: boolean): Promise<void> {
  const added = new Set<string>();
  await new UndoStack().guard(async (undo) => {
    for (const step of steps) applyOne(ctr, step, undo, fixedTable, added);
  });
}

/** Runs `fn` holding sbr's lock on the container's namespace file (the descriptor checked to be one). */
export const withNetnsLock = <T>(netns: string, fn: () => Promise<T>): Promise<T> =>
  withFlock({ path: netns, name: `network namespace ${netns}`, open: () => openNetns(netns) }, fn);
