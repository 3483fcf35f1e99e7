/**
 * The firewall plugin's part in `tscni reload`: the attachment's FORWARD accepts and its bridge's
 * isolation, from its record (or, for an attachment we have no record of, from the cached
 * prevResult, as DEL does), checked as CHECK checks them (from the pass's snapshot where it can
 * tell) and re-applied as one change. Taking
 * back a restore removes only addresses that no attachment holds any more.
 */
import type { Attachment } from '../../lib/cni/invocation';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Runner } from '../../lib/exec/runner';
import type { RestoreBatch } from '../../lib/firewall/batch';
import { inspectWithDriver, type ForwardingChange } from '../../lib/firewall/driver';
import { firewalldRunning } from '../../lib/firewall/firewalld';
import { unsure } from '../../lib/firewall/snapshot';
import type { Concern, ReloadConf, Reloader, Target } from '../../lib/reload/types';
import { loadFirewallConfig, type FirewallBackend } from './config';
import { factsOf, familiesOf, guardsOf } from './facts';
import { RecordStore, type FirewallRecord } from './records';
import { forwardingFor, withFirewallBackend } from './rules';

/** The concern of a recorded attachment (also used for records that have no cache entry). */
export function recordConcern(store: RecordStore, a: Attachment, rec: FirewallRecord, runner: Runner): Concern {
  const rules = forwardingFor(rec.backend, rec.zone, runner);
  const families = familiesOf(rec.ips);
  const guards = guardsOf(rec);
  const expected = { accept: rec.ips, ...guards, families, adminChain: rec.adminChain };
  const stage = rules.stage?.bind(rules);
  const setup: ForwardingChange = {
    accept: rec.ips,
    forget: [],
    ...guards,
    unisolate: [],
    families,
    adminChain: rec.adminChain,
    owner: a,
  };
  return {
    what: 'container forwarding',
    inspect: (snap) => rules.inspect(expected, snap),
    check: () => rules.check(expected),
    restore: () => rules.apply(setup),
    // firewalld's changes are D-Bus calls, not transactions: those restore on their own.
    ...(stage && { stage: (batch: RestoreBatch) => stage(batch, setup) }),
    undo: () =>
      rules.apply({
        accept: [],
        forget: store.unheld(rec),
        isolate: [],
        unisolate: [],
        families,
        adminChain: rec.adminChain,
        owner: a,
      }),
  };
}

function concerns(conf: ReloadConf, a: Attachment, runner: Runner): Concern[] {
  const cfg = loadFirewallConfig(conf.config);
  const store = new RecordStore(cfg.dataDir);
  const rec = store.read(a);
  if (rec) return rec.ips.length > 0 ? [recordConcern(store, a, rec, runner)] : [];
  // No record: set up by the reference, or before records existed. Where ADD would put them.
  const prev = prevResultOf(conf.config, conf.cniVersion);
  if (!prev) return [];
  const facts = factsOf(prev, cfg);
  if (facts.ips.length === 0) return [];
  const families = familiesOf(facts.ips);
  const guards = guardsOf({ bridge: facts.bridge, icc: facts.icc });
  const each = (fn: (b: FirewallBackend) => Promise<void>): Promise<void> =>
    withFirewallBackend(cfg, runner, conf.env, fn);
  const expected = { accept: facts.ips, ...guards, families, adminChain: cfg.adminChain };
  const setup: ForwardingChange = {
    accept: facts.ips,
    forget: [],
    ...guards,
    unisolate: [],
    families,
    adminChain: cfg.adminChain,
    owner: a,
  };
  // Batched only where the backend is configured (the default may be firewalld, asked over D-Bus).
  const configured = cfg.backend === 'iptables' || cfg.backend === 'nftables' ? cfg.backend : undefined;
  const fwd = configured && forwardingFor(configured, cfg.zone, runner);
  const stage = fwd ? fwd.stage?.bind(fwd) : undefined;
  return [
    {
      what: 'container forwarding',
      // The backend as withFirewallBackend picks it; firewalld's bindings are left to check.
      inspect: async (snap) => {
        if (cfg.backend === 'firewalld') return unsure('firewalld zone bindings are not in the ruleset');
        if (cfg.backend) return forwardingFor(cfg.backend, cfg.zone, runner).inspect(expected, snap);
        if (await snap.memo('firewalld running', () => firewalldRunning(runner, conf.env)))
          return unsure('firewalld zone bindings are not in the ruleset');
        return inspectWithDriver(undefined, runner, (d) => d.containerForwarding.inspect(expected, snap));
      },
      check: () => each((b) => forwardingFor(b, cfg.zone, runner).check(expected)),
      restore: () => each((b) => forwardingFor(b, cfg.zone, runner).apply(setup)),
      ...(stage && { stage: (batch: RestoreBatch) => stage(batch, setup) }),
      undo: () =>
        each((b) =>
          forwardingFor(b, cfg.zone, runner).apply({
            accept: [],
            forget: facts.ips,
            isolate: [],
            unisolate: [],
            families,
            adminChain: cfg.adminChain,
            owner: a,
          }),
        ),
    },
  ];
}

/** Every recorded attachment of the network (for runtimes that keep no libcni cache). */
async function known(conf: ReloadConf, runner: Runner): Promise<Target[]> {
  const store = new RecordStore(loadFirewallConfig(conf.config).dataDir);
  // RecordStore.list validates the names a record's path gives (they reach nft comments).
  return store
    .list(conf.networkName)
    .filter(({ record }) => record.ips.length > 0)
    .map(({ attachment, record }) => ({
      attachment,
      netns: '',
      leases: [],
      concerns: [recordConcern(store, attachment, record, runner)],
      source: 'records' as const,
    }));
}

export const reloader: Reloader = {
  concerns: (conf, a, runner) => ({ concerns: concerns(conf, a, runner), leases: [] }),
  known,
};
