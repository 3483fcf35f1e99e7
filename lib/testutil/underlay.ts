/**
 * A "physical" network for macvlan/ipvlan/ptp tests (test-only module): this kernel has no
 * `dummy` links, so the sandbox host's uplink is one end of a veth pair whose other end sits in
 * an "outside" namespace of the same sandbox, standing for a machine on the underlay subnet.
 */
import { runOk, type Sandbox } from './sandbox';

export interface Underlay {
  /** The uplink's name in the sandbox host. */
  readonly master: string;
  /** The outside namespace's name in the sandbox (for sb.exec). */
  readonly outside: string;
  /** The outside machine's address (no prefix). */
  readonly outsideIp: string;
}

/**
 * Creates `master` in the sandbox host, its peer `uplink` in the container namespace `outside`,
 * addresses `<subnet>.1/24` (host) and `<subnet>.100/24` (outside), and, unless told otherwise,
 * the host's default route through `master`.
 */
export async function addUnderlay(
  sb: Sandbox,
  o: { master: string; outside: string; subnet: string; defaultRoute?: boolean },
): Promise<Underlay> {
  await sb.addContainer(o.outside);
  const host = sb.hostNs;
  const out = sb.nsName(o.outside);
  await runOk(['ip', '-n', host, 'link', 'add', o.master, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', out]);
  await runOk(['ip', '-n', host, 'addr', 'add', `${o.subnet}.1/24`, 'dev', o.master]);
  await runOk(['ip', '-n', host, 'link', 'set', o.master, 'up']);
  await runOk(['ip', '-n', out, 'addr', 'add', `${o.subnet}.100/24`, 'dev', 'uplink']);
  await runOk(['ip', '-n', out, 'link', 'set', 'uplink', 'up']);
  if (o.defaultRoute !== false)
    await runOk(['ip', '-n', host, 'route', 'add', 'default', 'via', `${o.subnet}.254`, 'dev', o.master]);
  return { master: o.master, outside: o.outside, outsideIp: `${o.subnet}.100` };
}
