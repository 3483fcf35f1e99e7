/**
 * `ipMasq` of the interface plugins (bridge, ptp) through the firewall driver: set up in the
 * configured backend (or the reference's default), checked there, and torn down and
 * garbage-collected in both backends, as the reference does, because an attachment may have been
 * created under an earlier config.
 */
import type { Attachment } from '../cni/invocation';
import type { IPConfig } from '../cni/result/types';
import type { Runner } from '../exec/runner';
import type { Backend } from './backend';
import { inEveryBackend, inspectWithDriver, withDriver, type MasqAddress } from './driver';
import type { Finding, RulesetSnapshot } from './snapshot';
import { formatCIDR, formatIP, networkOf, parseCIDR } from '../addr/ip';

/** Each container address with its subnet, as masquerade rules need them. */
export function masqAddresses(ips: readonly IPConfig[]): MasqAddress[] {
  return ips.flatMap((ip) => {
    const c = parseCIDR(ip.address);
    return c ? [{ address: formatIP(c.addr), subnet: formatCIDR(networkOf(c.addr, c.prefix), c.prefix) }] : [];
  });
}

/** Sets the rules for `ips` up in the configured backend, or the reference's default one. */
export function setupMasquerade(
  runner: Runner,
  backend: Backend | undefined,
  a: Attachment,
  ips: readonly IPConfig[],
): Promise<void> {
  return withDriver(
    backend,
    runner,
    (d) => d.masquerade.setup(a, masqAddresses(ips)),
    (iptables) => iptables.masquerade.teardown(a),
  );
}

/**
 * Removes the attachment's masquerade rules from both backends (by network and container, no
 * addresses needed). `ips`, DEL's prevResult addresses when it has usable ones, spare the
 * backends a read of their tables in the usual case.
 */
export async function teardownMasquerade(runner: Runner, a: Attachment, ips?: readonly IPConfig[]): Promise<void> {
  const expected = ips && ips.length > 0 ? masqAddresses(ips) : undefined;
  await inEveryBackend(runner, (d) => d.masquerade.teardown(a, expected));
}

/** The rules for `ips` are in the backend this config uses. */
export const checkMasquerade = (
  runner: Runner,
  backend: Backend | undefined,
  a: Attachment,
  ips: readonly IPConfig[],
): Promise<void> => withDriver(backend, runner, (d) => d.masquerade.check(a, masqAddresses(ips)));

/** What checkMasquerade would say, from a reload pass's snapshot. */
export const inspectMasquerade = (
  runner: Runner,
  backend: Backend | undefined,
  a: Attachment,
  ips: readonly IPConfig[],
  snap: RulesetSnapshot,
): Promise<Finding> => inspectWithDriver(backend, runner, (d) => d.masquerade.inspect(a, masqAddresses(ips), snap));

/** Removes masquerade rules of this network's attachments that are not in `keep`, in both backends. */
export async function gcMasquerade(runner: Runner, networkName: string, keep: ReadonlySet<string>): Promise<void> {
  await inEveryBackend(runner, (d) => d.masquerade.gc(networkName, keep));
}
