/**
 * dnsname GC (CNI 1.1): lines of attachments not in `cni.dev/valid-attachments` leave the hosts
 * file (lines the reference wrote name no attachment and stay); with none left the resolver stops.
 */
import { existsSync } from 'node:fs';
import { attachmentKey, type Invocation } from '../../lib/cni/invocation';
import { validAttachmentsOf } from '../../lib/cni/netconf';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { loadDnsnameConfig } from './config';
import { converge } from './del';
import { readLines, withNetworkLock } from './resolver';

export async function gc(inv: Invocation, runner: Runner = defaultRunner()): Promise<void> {
  const cfg = loadDnsnameConfig(inv);
  const valid = validAttachmentsOf(inv.config);
  if (!valid || !existsSync(cfg.dir)) return;
  const keepKeys = new Set(valid.map((v) => attachmentKey(v.containerID, v.ifname)));
  await withNetworkLock(cfg.dir, async () => {
    const lines = readLines(cfg.dir);
    const keep = lines.filter((l) => !l.owner || keepKeys.has(attachmentKey(l.owner.containerId, l.owner.ifName)));
    await converge(runner, cfg.dir, keep, keep.length !== lines.length, undefined, cfg.domain);
  });
}
