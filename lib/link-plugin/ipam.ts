/**
 * What tap, vlan and dummy share: a link they create in the container, then IPAM, then the
 * addresses and routes on it. Their results name one interface, index 0, which every address
 * belongs to.
 */
import { delegate } from '../cni/delegate';
import type { Invocation } from '../cni/invocation';
import { CniError, ErrorCode } from '../cni/errors';
import type { DNS, IPConfig, Route } from '../cni/result/types';
import type { Kernel } from '../net/kernel';
import * as t from '../cni/schema';
import type { UndoStack } from '../undo';

const ipamOnly = t.object({ ipam: t.optional(t.object({ type: t.optional(t.string) })) });

/** The IPAM type alone ('' = none): what DEL and GC read, so they work with a config ADD would refuse. */
export const ipamTypeOf = (inv: Invocation, what: string): string =>
  t.parseWith(ipamOnly, inv.config, what).ipam?.type ?? '';

export interface IpamOutcome {
  readonly ips: IPConfig[];
  readonly routes: Route[];
  readonly dns: DNS | undefined;
}

/**
 * IPAM ADD, with its DEL registered for rollback first (a delegate that fails half-way may still
 * hold a lease). Every address is moved to interface 0, the container's link.
 */
export async function ipamAdd(
  undo: UndoStack,
  inv: Invocation,
  kernel: Pick<Kernel, 'runner'>,
  ipamType: string,
): Promise<IpamOutcome> {
  const opts = { runner: kernel.runner };
  undo.push('IPAM DEL', () => delegate('DEL', ipamType, inv, opts));
  const r = await delegate('ADD', ipamType, inv, opts);
  if (!r?.ips?.length) throw new CniError(ErrorCode.Internal, 'IPAM plugin returned missing IP config');
  return { ips: r.ips.map((ip) => ({ ...ip, interface: 0 })), routes: [...(r.routes ?? [])], dns: r.dns };
}

/** GC: these plugins keep no state of their own, so GC is IPAM's (the spec says to forward it). */
export async function ipamGc(inv: Invocation, kernel: Pick<Kernel, 'runner'>, ipamType: string): Promise<void> {
  if (ipamType !== '') await delegate('GC', ipamType, inv, { runner: kernel.runner });
}

/** STATUS after the plugin's own readiness checks: IPAM's answer. */
export async function ipamStatus(inv: Invocation, kernel: Pick<Kernel, 'runner'>, ipamType: string): Promise<void> {
  if (ipamType !== '') await delegate('STATUS', ipamType, inv, { runner: kernel.runner });
}
