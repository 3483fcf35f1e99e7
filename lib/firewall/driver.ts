/**
 * The seam between plugins and the host firewall.
 *
 * A FirewallDriver is one backend (iptables or nftables) bound to the Runner that executes its
 * commands. It covers every concern tscni programs:
 *  - `masquerade` (bridge `ipMasq`): SNAT of a container's traffic leaving its subnet;
 *  - `portForwarding` (portmap): host port → container DNAT plus hairpin/localhost SNAT;
 *  - `containerForwarding` (the firewall plugin): filter rules that let container traffic through
 *    the host's FORWARD chain, and isolation between bridges.
 * Masquerade and port forwarding rules are found again by the attachment (network, container ID,
 * ifname) they belong to, so their teardown works after the container's netns is gone; the
 * firewall plugin's rules carry only addresses (as the reference's do), so it keeps records.
 *
 * A verb picks its driver once: `driverFor` for a configured backend, `withDriver` for the
 * reference's lazy default (iptables first, nftables only where iptables is unusable), and
 * `inEveryBackend` for teardown and GC, which look in both backends because an attachment may
 * have been set up under an earlier config.
 *
 * Each driver renders one transaction per family (`iptables-restore --noflush`) or one for all
 * families (`nft -f`) per verb; renderers are pure and tested against golden files.
 */
import type { Runner } from '../exec/runner';
import { eachBackend, inspectInBackends, withBackend, BACKENDS, type Backend } from './backend';
import type { Finding } from './snapshot';
import { IptablesDriver } from './iptables/driver';
import { NftablesDriver } from './nftables/driver';
import type { FirewallDriver } from './types';

export type * from './types';
export type { Backend } from './backend';

/** The driver of one backend, executing through `runner`. */
export function driverFor(backend: Backend, runner: Runner): FirewallDriver {
  switch (backend) {
    case 'iptables':
      return new IptablesDriver(runner);
    case 'nftables':
      return new NftablesDriver(runner);
  }
}

/**
 * Runs `run` with the configured backend's driver or, with none configured, the reference's
 * default decided lazily (see withBackend): when iptables fails where it is unusable,
 * `undoIptables` cleans up after the attempt and the nftables driver runs.
 */
export function withDriver(
  configured: Backend | undefined,
  runner: Runner,
  run: (d: FirewallDriver) => Promise<void>,
  undoIptables: (d: FirewallDriver) => Promise<unknown> = async () => undefined,
): Promise<void> {
  return withBackend(
    configured,
    (b) => run(driverFor(b, runner)),
    () => undoIptables(driverFor('iptables', runner)),
    runner,
  );
}

/**
 * What a check through `withDriver` would conclude, with `inspect` (a driver's judgement on a
 * reload pass's snapshot) in its place: the configured backend, or iptables first and nftables
 * where iptables' finding is not intact and iptables turns out to be unusable.
 */
export function inspectWithDriver(
  configured: Backend | undefined,
  runner: Runner,
  inspect: (d: FirewallDriver) => Promise<Finding>,
): Promise<Finding> {
  return inspectInBackends(configured, runner, (b) => inspect(driverFor(b, runner)));
}

/**
 * Runs `fn` with the driver of every backend in `backends` at once (see eachBackend: a backend
 * that fails where it is not usable gives undefined).
 */
export function inEveryBackend<T>(
  runner: Runner,
  fn: (d: FirewallDriver) => Promise<T>,
  backends: readonly Backend[] = BACKENDS,
): Promise<Array<T | undefined>> {
  return eachBackend(runner, (b) => fn(driverFor(b, runner)), backends);
}
