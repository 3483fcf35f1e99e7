/**
 * The firewall plugin's decisions, shared by its verbs: which backend holds an attachment's rules,
 * and what releasing an attachment removes (only what no other attachment still needs).
 */
import type { Attachment } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { Env } from '../../lib/cni/io';
import type { Runner } from '../../lib/exec/runner';
import { withBackend } from '../../lib/firewall/backend';
import { driverFor, type ContainerForwarding } from '../../lib/firewall/driver';
import { FirewalldForwarding, firewalldRunning } from '../../lib/firewall/firewalld';
import type { FirewallBackend, FirewallConfig } from './config';
import { familiesOf } from './facts';
import type { FirewallRecord, RecordStore } from './records';

export function forwardingFor(backend: FirewallBackend, zone: string, runner: Runner): ContainerForwarding {
  if (backend === 'firewalld')
    return new FirewalldForwarding(runner, zone, driverFor('iptables', runner).containerForwarding);
  return driverFor(backend, runner).containerForwarding;
}

export async function requireFirewalld(runner: Runner, env: Env): Promise<void> {
  if (!(await firewalldRunning(runner, env)))
    throw new CniError(
      ErrorCode.NotAvailable,
      'firewalld is not running',
      'backend "firewalld" needs firewalld on the system D-Bus (org.fedoraproject.FirewallD1)',
    );
}

/**
 * Runs `run` with the backend ADD and CHECK use: the configured one (firewalld only when it is
 * running), or the reference's default: firewalld if it is running, else iptables — tried first,
 * nftables only where iptables turns out to be unusable (after `undoIptables`).
 */
export async function withFirewallBackend(
  cfg: FirewallConfig,
  runner: Runner,
  env: Env,
  run: (b: FirewallBackend) => Promise<void>,
  undoIptables: () => Promise<unknown> = async () => undefined,
): Promise<void> {
  if (cfg.backend === 'firewalld') {
    await requireFirewalld(runner, env);
    return run('firewalld');
  }
  if (cfg.backend) return run(cfg.backend);
  if (await firewalldRunning(runner, env)) return run('firewalld');
  return withBackend(undefined, run, undoIptables, runner);
}

/** Whether a port other than `ownVeth` is still on the bridge (a container we have no record of, e.g. the reference's). */
export async function bridgeInUse(runner: Runner, bridge: string, ownVeth: string | undefined): Promise<boolean> {
  const r = await runner.run({ tool: 'ip', argv: ['-j', 'link', 'show', 'master', bridge], allowFailure: true });
  if (r.exitCode !== 0) return false; // no such bridge
  const ports: unknown = JSON.parse(r.stdout || '[]');
  return Array.isArray(ports) && ports.some((p) => (p as { ifname?: unknown }).ifname !== ownVeth);
}

/**
 * Removes what only this attachment needed — addresses no other attachment holds, the bridge's
 * isolation when no container is left on it — in one change, then the record itself.
 */
export async function release(store: RecordStore, runner: Runner, a: Attachment, rec: FirewallRecord): Promise<void> {
  const freed = store.release(a, rec);
  const unisolate =
    rec.bridge && freed.bridgeFree && !(await bridgeInUse(runner, rec.bridge, rec.hostVeth)) ? [rec.bridge] : [];
  await forwardingFor(rec.backend, rec.zone, runner).apply({
    accept: [],
    forget: freed.ips,
    isolate: [],
    unisolate,
    families: familiesOf(rec.ips),
    adminChain: rec.adminChain,
    owner: a,
  });
  store.forget(a);
}
