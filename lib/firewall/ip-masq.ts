/**
 * `ipMasq` of the interface plugins (bridge, ptp) through each backend's masquerade: set up in the
 * configured backend (or the reference's default), checked there, and torn down and
 * garbage-collected in both backends, as the reference does, because an attachment may have been
 * created under an earlier config. Only the masquerade modules are imported, not the whole
 * drivers (driver.ts): a bridge or ptp call then loads no port forwarding or firewall-plugin rules.
 */
import type { Attachment } from '../cni/invocation';
import type { IPConfig } from '../cni/result/types';
import type { Runner } from '../exec/runner';
import { defaultBackend, eachBackend, inspectInBackends, withBackend, type Backend } from './backend';
import type { RestoreBatch } from './batch';
import { IptablesMasquerade } from './iptables/masquerade';
import { NftMasquerade } from './nftables/masquerade';
import type { Finding, RulesetSnapshot } from './snapshot';
import type { Masquerade, MasqAddress } from './types';
import { formatCIDR, formatIP, networkOf, parseCIDR } from '../addr/ip';

const masqueradeOf = (b: Backend, runner: Runner): Masquerade =>
  b === 'iptables' ? new IptablesMasquerade(runner) : new NftMasquerade(runner);

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
  return withBackend(
    backend,
    (b) => masqueradeOf(b, runner).setup(a, masqAddresses(ips)),
    () => masqueradeOf('iptables', runner).teardown(a),
    runner,
  );
}

/** What setupMasquerade would write, rendered into a reload pass's batch (in the backend setup would pick). */
export async function stageMasquerade(
  batch: RestoreBatch,
  runner: Runner,
  backend: Backend | undefined,
  a: Attachment,
  ips: readonly IPConfig[],
): Promise<void> {
  const b = backend ?? (await defaultBackend(runner));
  await masqueradeOf(b, runner).stage(batch, a, masqAddresses(ips));
}

/**
 * Removes the attachment's masquerade rules from both backends (by network and container, no
 * addresses needed). `ips`, DEL's prevResult addresses when it has usable ones, spare the
 * backends a read of their tables in the usual case.
 */
export async function teardownMasquerade(runner: Runner, a: Attachment, ips?: readonly IPConfig[]): Promise<void> {
  const expected = ips && ips.length > 0 ? masqAddresses(ips) : undefined;
  await eachBackend(runner, (b) => masqueradeOf(b, runner).teardown(a, expected));
}

/** The rules for `ips` are in the backend this config uses. */
export const checkMasquerade = (
  runner: Runner,
  backend: Backend | undefined,
  a: Attachment,
  ips: readonly IPConfig[],
): Promise<void> =>
  withBackend(
    backend,
    (b) => masqueradeOf(b, runner).check(a, masqAddresses(ips)),
    async () => undefined,
    runner,
  );

/** What checkMasquerade would say, from a reload pass's snapshot. */
export const inspectMasquerade = (
  runner: Runner,
  backend: Backend | undefined,
  a: Attachment,
  ips: readonly IPConfig[],
  snap: RulesetSnapshot,
): Promise<Finding> =>
  inspectInBackends(backend, runner, (b) => masqueradeOf(b, runner).inspect(a, masqAddresses(ips), snap));

/** Removes masquerade rules of this network's attachments that are not in `keep`, in both backends. */
export async function gcMasquerade(runner: Runner, networkName: string, keep: ReadonlySet<string>): Promise<void> {
  await eachBackend(runner, (b) => masqueradeOf(b, runner).gc(networkName, keep));
}
