/**
 * What an interface plugin's verbs need from the machine — netlink sockets, /proc/sys,
 * /dev/net/tun and the program runner for the firewall and delegates — as one value passed in: the real one from the
 * executable (plugins/registry.ts), recording fakes in unit tests (which then see every kernel
 * change as data). Verb modules import only the type.
 */
import { defaultRunner } from '../exec/real';
import type { Runner } from '../exec/runner';
import type { Rtnl } from '../netlink';
import { inContainer, openContainer } from './open-netns';
import { openRtnl } from './rtnl';
import { ensureSysctl, procSysctlFs, setSysctlsIn, type SysctlFs, type SysctlValues } from './sysctl';
import { openTunIn, type TunFile } from './tuntap';

export interface Kernel {
  readonly runner: Runner;
  /** A netlink socket in this namespace, or in the one at `netns`; the caller closes it. */
  rtnl(netns?: string): Rtnl;
  /** Sets a /proc/sys value of this namespace (only when it differs). */
  ensureSysctl(key: string, value: string): void;
  /** Sets /proc/sys values inside the namespace at `netns`. */
  setSysctlsIn(netns: string, values: SysctlValues): void;
  /** Runs synchronous `fn` on /proc/sys of the namespace at `netns` (checks, reads and writes). */
  withSysctlsIn<T>(netns: string, fn: (fs: SysctlFs) => T): T;
  /** /dev/net/tun opened inside the namespace at `netns` (taps are born there); the caller closes it. */
  openTun(netns: string): TunFile;
}

export function hostKernel(): Kernel {
  return {
    runner: defaultRunner(),
    // A container's socket says so when its namespace is missing or is not one.
    rtnl: (netns) => (netns ? openContainer(netns) : openRtnl()),
    ensureSysctl,
    setSysctlsIn,
    withSysctlsIn: (netns, fn) => inContainer(netns, () => fn(procSysctlFs)),
    openTun: openTunIn,
  };
}
