/** firewall CHECK: the rules for prevResult's addresses (and the bridge's isolation) are in place. */
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { loadFirewallConfig, type FirewallBackend } from './config';
import { factsOf, familiesOf, guardsOf } from './facts';
import { RecordStore } from './records';
import { forwardingFor, requireFirewalld, withFirewallBackend } from './rules';

export async function check(inv: Invocation, runner: Runner = defaultRunner()): Promise<void> {
  const cfg = loadFirewallConfig(inv.config);
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new ConfigError('missing prevResult from earlier plugin');
  const facts = factsOf(prev, cfg);
  if (facts.ips.length === 0) return;
  const rec = new RecordStore(cfg.dataDir).read(attachmentOf(inv));
  // Isolation as configured; internal as ADD found it (its record), or as configured.
  const internal = cfg.internal ?? rec?.internal ?? false;
  const guards = guardsOf({
    bridge: facts.bridge ?? (internal ? (rec?.bridge ?? facts.firstIface) : undefined),
    crossBridge: facts.bridge !== undefined,
    icc: facts.icc,
    internal,
  });
  const expected = {
    accept: facts.ips,
    ...guards,
    families: familiesOf(facts.ips),
    adminChain: rec?.adminChain ?? cfg.adminChain,
  };
  const run = (b: FirewallBackend): Promise<void> => forwardingFor(b, rec?.zone ?? cfg.zone, runner).check(expected);
  // Where ADD put them, when we know; else where ADD would put them.
  if (rec?.backend === 'firewalld') await requireFirewalld(runner, inv.env);
  if (rec) await run(rec.backend);
  else await withFirewallBackend(cfg, runner, inv.env, run);
}
