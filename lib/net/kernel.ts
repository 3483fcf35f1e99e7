/**
 * What an interface plugin's verbs need from the machine — netlink sockets, /proc/sys, and the
 * program runner for the firewall and delegates — as one value passed in: the real one in the
 * executable, recording fakes in unit tests (which then see every kernel change as data).
 */
import { defaultRunner } from '../exec/real';
import type { Runner } from '../exec/runner';
import type { Rtnl } from '../netlink';
import { openRtnl } from './rtnl';
import { ensureSysctl, setSysctlsIn, type SysctlValues } from './sysctl';

export interface Kernel {
  readonly runner: Runner;
  /** A netlink socket in this namespace, or in the one at `netns`; the caller closes it. */
  rtnl(netns?: string): Rtnl;
  /** Sets a /proc/sys value of this namespace (only when it differs). */
  ensureSysctl(key: string, value: string): void;
  /** Sets /proc/sys values inside the namespace at `netns`. */
  setSysctlsIn(netns: string, values: SysctlValues): void;
}

export function hostKernel(): Kernel {
  return { runner: defaultRunner(), rtnl: openRtnl, ensureSysctl, setSysctlsIn };
}
