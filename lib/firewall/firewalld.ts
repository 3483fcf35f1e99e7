/**
 * The firewall plugin's firewalld backend, as the reference has it: each container address
 * (`<ip>/32` or `/128`) is bound as a source to a zone (default `trusted`) through firewalld's
 * D-Bus API (`org.fedoraproject.FirewallD1.zone` addSource / removeSource / querySource). We call
 * it with `busctl` (systemd's D-Bus client, present wherever firewalld runs) instead of linking a
 * D-Bus library: one short exec per address. Bridge isolation has no firewalld form; like the
 * reference, it goes to iptables whatever the backend.
 */
import { bitsOf, familyOfText } from '../addr/ip';
import { existsSync } from 'node:fs';
import { CniError, ErrorCode } from '../cni/errors';
import type { Env } from '../cni/io';
import type { Runner } from '../exec/runner';
import { warn } from '../log';
import { concurrently } from '../async';
import { INTACT, unsure, type Finding, type RulesetSnapshot } from './snapshot';
import { guardsIn, type ContainerForwarding, type ForwardingChange, type ForwardingExpectation } from './types';

const FIREWALLD = 'org.fedoraproject.FirewallD1';
const ZONE_API = [FIREWALLD, '/org/fedoraproject/FirewallD1', `${FIREWALLD}.zone`] as const;

/** The system bus socket, from DBUS_SYSTEM_BUS_ADDRESS (`unix:path=…`) or the standard path. */
export function systemBusSocket(env: Env): string | undefined {
  const addr = env['DBUS_SYSTEM_BUS_ADDRESS'];
  if (!addr) return '/run/dbus/system_bus_socket';
  const m = /(?:^|;)unix:(?:[^;]*,)?path=([^,;]+)/.exec(addr);
  return m?.[1];
}

/**
 * Whether firewalld owns its name on the system bus (the reference's test). Without a system bus
 * socket the answer is no and costs no exec, which is the common case on hosts without firewalld.
 */
export async function firewalldRunning(runner: Runner, env: Env): Promise<boolean> {
  const socket = systemBusSocket(env);
  if (!socket || !existsSync(socket)) return false;
  const r = await runner
    .run({
      tool: 'busctl',
      argv: [
        '--system',
        'call',
        'org.freedesktop.DBus',
        '/org/freedesktop/DBus',
        'org.freedesktop.DBus',
        'GetNameOwner',
        's',
        FIREWALLD,
      ],
      allowFailure: true,
      timeoutMs: 5_000,
    })
    .catch(() => undefined);
  return r?.exitCode === 0;
}

export const sourceOf = (ip: string): string => `${ip}/${bitsOf(familyOfText(ip))}`;

export class FirewalldForwarding implements ContainerForwarding {
  constructor(
    private readonly runner: Runner,
    private readonly zone: string,
    /** Where bridge isolation goes (iptables, as in the reference). */
    private readonly isolation: ContainerForwarding,
  ) {}

  /**
   * firewalld's error code for a failed call (busctl prints the D-Bus error as
   * `Call failed: ZONE_ALREADY_SET: <zone>`), decided here once; undefined when it succeeded.
   */
  private static errorCode(r: { exitCode: number; stderr: string }): string | undefined {
    if (r.exitCode === 0) return undefined;
    return /(?:^|\s)([A-Z][A-Z_]+):/.exec(r.stderr)?.[1] ?? 'UNKNOWN_ERROR';
  }

  private call(method: string, ip: string, allowFailure = false): ReturnType<Runner['run']> {
    return this.runner.run({
      tool: 'busctl',
      argv: ['--system', 'call', ...ZONE_API, method, 'ss', this.zone, sourceOf(ip)],
      allowFailure,
      timeoutMs: 10_000,
    });
  }

  async apply(change: ForwardingChange): Promise<void> {
    await concurrently(
      ...change.accept.map(async (ip) => {
        const r = await this.call('addSource', ip, true);
        // Already bound to this zone (a repeated ADD) is success, as in the reference.
        const code = FirewalldForwarding.errorCode(r);
        if (code !== undefined && code !== 'ZONE_ALREADY_SET')
          throw new CniError(
            ErrorCode.Internal,
            `failed to add the address ${sourceOf(ip)} to the firewalld zone ${this.zone}`,
            r.stderr.trim(),
          );
      }),
      ...change.forget
        .filter((ip) => !change.accept.includes(ip))
        .map(async (ip) => {
          // Removal is best effort, as in the reference: a source that is not bound (any more), or
          // a firewalld that stopped (and took its runtime bindings with it), leaves nothing to do.
          const r = await this.call('removeSource', ip, true).catch((e: unknown) => ({
            exitCode: -1,
            stdout: '',
            stderr: e instanceof Error ? e.message : String(e),
          }));
          const code = FirewalldForwarding.errorCode(r);
          if (code !== undefined && code !== 'UNKNOWN_SOURCE' && code !== 'NOT_ENABLED')
            warn(`firewalld: removing ${sourceOf(ip)} from zone ${this.zone} failed: ${r.stderr.trim()}`);
        }),
    );
    if (guardsIn(change) || change.unisolate.length > 0)
      await this.isolation.apply({ ...change, accept: [], forget: [] });
  }

  async check(expected: ForwardingExpectation): Promise<void> {
    for (const ip of expected.accept) {
      const r = await this.call('querySource', ip, true);
      if (r.exitCode !== 0 || !/^b true/.test(r.stdout.trim()))
        throw new CniError(
          ErrorCode.Internal,
          `failed to find the address ${sourceOf(ip)} in the firewalld zone ${this.zone}`,
          r.stderr.trim() || undefined,
        );
    }
    if (guardsIn(expected)) await this.isolation.check({ ...expected, accept: [] });
  }

  /** firewalld's bindings are only asked over D-Bus: with addresses to accept, check decides. */
  async inspect(expected: ForwardingExpectation, snap: RulesetSnapshot): Promise<Finding> {
    if (expected.accept.length > 0) return unsure('firewalld zone bindings are not in the ruleset');
    return guardsIn(expected) ? this.isolation.inspect({ ...expected, accept: [] }, snap) : INTACT;
  }

  isolatedBridges(): Promise<string[]> {
    return this.isolation.isolatedBridges();
  }
}
