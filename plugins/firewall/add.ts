/**
 * firewall ADD (chained after an interface plugin): accept the container's traffic through the
 * host's FORWARD chain and, with `ingressPolicy: same-bridge` or `isolated`, isolate its bridge from
 * other isolated bridges (`isolated`: and its containers from each other); on an internal network
 * (lib/net/internal.ts, or `internal: true`) drop everything routed into or out of the bridge —
 * one transaction per family (iptables) or one in all (nftables). The record
 * is written before the rules, so a failure at any point is rolled back from it, and DEL finds the
 * rules without prevResult. prevResult passes through unchanged.
 */
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { UndoStack } from '../../lib/undo';
import { loadFirewallConfig, type FirewallBackend, type FirewallConfig } from './config';
import { factsOf, familiesOf, guardsOf, type Facts } from './facts';
import { networkDir, readGatewayRecord } from '../../lib/dns/paths';
import { probeInternal } from '../../lib/net/internal';
import { ipRealm, RecordStore, type FirewallRecord, type Released } from './records';
import { clearTeardown } from '../../lib/state/marks';
import { bridgeInUse, forwardingFor, release, withFirewallBackend } from './rules';

/** Whether the network is internal: configured, or seen on the bridge (not counting dnsname's resolver address). */
function isInternal(inv: Invocation, cfg: FirewallConfig, facts: Facts): boolean {
  if (cfg.internal !== undefined) return cfg.internal;
  if (!facts.firstIface) return false;
  const own = readGatewayRecord(networkDir(inv.env, inv.networkName));
  return probeInternal(facts.firstIface, facts.cidrs, own?.bridge === facts.firstIface ? own.addresses : []);
}

export async function add(inv: Invocation, runner: Runner = defaultRunner()): Promise<Result> {
  const cfg = loadFirewallConfig(inv.config);
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new ConfigError('missing prevResult from earlier plugin');
  const facts = factsOf(prev, cfg);
  // Without addresses the reference writes no rule at all (isolation goes by the addresses' families).
  if (facts.ips.length === 0) return prev;
  const internal = isInternal(inv, cfg, facts);
  const store = new RecordStore(cfg.dataDir);
  const a = attachmentOf(inv);
  clearTeardown(inv.env, a);
  const recordFor = (backend: FirewallBackend): FirewallRecord => ({
    backend,
    zone: cfg.zone,
    adminChain: cfg.adminChain,
    ips: facts.ips,
    bridge: facts.bridge ?? (internal ? facts.firstIface : undefined),
    hostVeth: facts.hostVeth,
    ...(facts.bridge || !internal ? {} : { crossBridge: false }),
    ...(facts.icc ? {} : { icc: false }),
    ...(internal ? { internal: true } : {}),
  });
  const undo = new UndoStack();
  await undo.guard(async () => {
    // An earlier ADD of this attachment (a runtime retrying): what it had and this one does not
    // goes in the same change; under another backend, it is released first.
    let old = store.read(a);
    const run = async (backend: FirewallBackend): Promise<void> => {
      const rec = recordFor(backend);
      if (old && (ipRealm(old) !== ipRealm(rec) || old.adminChain !== rec.adminChain)) {
        await release(store, runner, a, old);
        old = undefined;
      }
      const stale: Released = old
        ? store.release(
            a,
            old,
            old.ips.filter((ip) => !rec.ips.includes(ip)),
            old.bridge !== rec.bridge ? old.bridge : undefined,
          )
        : { ips: [], bridgeFree: false };
      const oldBridge = old?.bridge;
      const unisolate =
        oldBridge && stale.bridgeFree && !(await bridgeInUse(runner, oldBridge, old?.hostVeth)) ? [oldBridge] : [];
      undo.push('remove the firewall rules and record', () => release(store, runner, a, rec));
      store.write(a, rec);
      await forwardingFor(backend, cfg.zone, runner).apply({
        accept: rec.ips,
        forget: stale.ips,
        ...guardsOf(rec),
        unisolate,
        families: familiesOf(rec.ips),
        adminChain: rec.adminChain,
        owner: a,
      });
    };
    await withFirewallBackend(cfg, runner, inv.env, run, () => release(store, runner, a, recordFor('iptables')));
  });
  return prev;
}
