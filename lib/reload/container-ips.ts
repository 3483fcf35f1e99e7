/** The addresses a reloader restores rules for, from the cached result of an attachment. */
import type { Attachment } from '../cni/invocation';
import { ipsOfInterface } from '../cni/result/select';
import type { IPConfig, Result } from '../cni/result/types';

/**
 * The container interface's addresses: those of the interface named `ifName` that is in a sandbox,
 * and those of no interface.
 */
export function containerIps(prev: Result, a: Attachment): IPConfig[] {
  const index = (prev.interfaces ?? []).findIndex((i) => i.name === a.ifName && !!i.sandbox);
  return ipsOfInterface(prev, index);
}
