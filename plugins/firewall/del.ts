/**
 * firewall DEL: removes this attachment's rules — found from its record, so prevResult and the
 * netns are not needed — keeping addresses and bridge isolation other attachments still need.
 * An attachment we have no record of (set up by the reference before the binaries were swapped)
 * is released from prevResult with the configured or default backend. Idempotent.
 */
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import type { Env } from '../../lib/cni/io';
import { prevResultOf } from '../../lib/cni/netconf';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { defaultBackend } from '../../lib/firewall/backend';
import { firewalldRunning } from '../../lib/firewall/firewalld';
import { loadFirewallConfig, type FirewallBackend, type FirewallConfig } from './config';
import { factsOf, type Facts } from './facts';
import { RecordStore, type FirewallRecord } from './records';
import { markTeardown } from '../../lib/state/marks';
import { release } from './rules';

async function backendOf(cfg: FirewallConfig, runner: Runner, env: Env): Promise<FirewallBackend> {
  if (cfg.backend) return cfg.backend;
  return (await firewalldRunning(runner, env)) ? 'firewalld' : defaultBackend(runner);
}

export async function del(inv: Invocation, runner: Runner = defaultRunner()): Promise<void> {
  const cfg = loadFirewallConfig(inv.config);
  const prev = prevResultOf(inv.config, inv.cniVersion, true);
  const store = new RecordStore(cfg.dataDir);
  const a = attachmentOf(inv);
  markTeardown(inv.env, a); // before any rule goes (lib/state/marks.ts)
  let facts: Facts | undefined;
  try {
    facts = prev ? factsOf(prev, cfg) : undefined;
  } catch {
    // DEL never fails on what it is told about a container it is removing; the record still counts.
    facts = undefined;
  }
  const recorded = store.read(a);
  let rec: FirewallRecord | undefined = recorded;
  if (recorded && facts) rec = { ...recorded, ips: [...new Set([...recorded.ips, ...facts.ips])] };
  if (!recorded && facts && facts.ips.length > 0)
    rec = {
      backend: await backendOf(cfg, runner, inv.env),
      zone: cfg.zone,
      adminChain: cfg.adminChain,
      ips: facts.ips,
      bridge: facts.bridge ?? (cfg.internal ? facts.firstIface : undefined),
      hostVeth: facts.hostVeth,
    };
  if (rec) await release(store, runner, a, rec);
  // Nothing to release: what an ADD killed before its record was whole left (its directory, a
  // damaged record) still goes.
  else store.forget(a);
}
