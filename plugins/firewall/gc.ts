/**
 * firewall GC: releases the attachments of this network that are not in
 * `cni.dev/valid-attachments` (from their records), one change per backend; then removes the
 * isolation of bridges no container uses any more (also those the reference left behind, which
 * never removes them). Without a list, nothing changes.
 */
import type { Family } from '../../lib/addr/ip';
import { attachmentKey, type Attachment, type Invocation } from '../../lib/cni/invocation';
import { NO_CONTAINER, NO_IFNAME } from '../../lib/cni/names';
import { validAttachmentsOf, validKeys } from '../../lib/cni/netconf';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { inEveryBackend } from '../../lib/firewall/driver';
import { concurrently } from '../../lib/async';
import { loadFirewallConfig } from './config';
import { familiesOf } from './facts';
import { isolationRealm, RecordStore, type FirewallRecord } from './records';
import { bridgeInUse, forwardingFor } from './rules';

export async function gc(inv: Invocation, runner: Runner = defaultRunner()): Promise<void> {
  const cfg = loadFirewallConfig(inv.config);
  const valid = validAttachmentsOf(inv.config);
  if (!valid) return;
  const keep = validKeys(valid);
  const store = new RecordStore(cfg.dataDir);
  const stale = store
    .list(inv.networkName)
    .filter((s) => !keep.has(attachmentKey(s.attachment.containerId, s.attachment.ifName)));

  // One change per place the rules live: every stale attachment's unheld addresses and bridges.
  interface Group {
    readonly rec: FirewallRecord;
    readonly owner: Attachment;
    readonly forget: string[];
    readonly unisolate: string[];
    readonly families: Set<Family>;
  }
  const groups = new Map<string, Group>();
  for (const { attachment, record } of stale) {
    const k = `${record.backend}\0${record.zone}\0${record.adminChain}`;
    const g = groups.get(k) ?? { rec: record, owner: attachment, forget: [], unisolate: [], families: new Set() };
    groups.set(k, g);
    const freed = store.release(attachment, record);
    g.forget.push(...freed.ips);
    if (record.bridge && freed.bridgeFree && !(await bridgeInUse(runner, record.bridge, record.hostVeth)))
      g.unisolate.push(record.bridge);
    for (const f of familiesOf(record.ips)) g.families.add(f);
  }
  await concurrently(
    ...[...groups.values()].map((g) =>
      forwardingFor(g.rec.backend, g.rec.zone, runner).apply({
        accept: [],
        forget: g.forget,
        isolate: [],
        unisolate: g.unisolate,
        families: [...g.families],
        adminChain: g.rec.adminChain,
        owner: g.owner,
      }),
    ),
  );
  for (const { attachment } of stale) store.forget(attachment);

  // Isolated bridges that nothing holds and that have no port left.
  await inEveryBackend(runner, async (d) => {
    const unused: string[] = [];
    for (const br of await d.containerForwarding.isolatedBridges())
      if (store.bridgeUnheld(isolationRealm(d.backend), br) && !(await bridgeInUse(runner, br, undefined)))
        unused.push(br);
    if (unused.length === 0) return;
    await d.containerForwarding.apply({
      accept: [],
      forget: [],
      isolate: [],
      unisolate: unused,
      families: [4, 6],
      adminChain: cfg.adminChain,
      owner: { networkName: inv.networkName, containerId: NO_CONTAINER, ifName: NO_IFNAME },
    });
  });
}
