/** portmap GC: forwarding of attachments not in cni.dev/valid-attachments goes; no list, no change. */
import type { Invocation } from '../../lib/cni/invocation';
import { validAttachmentsOf, validKeys } from '../../lib/cni/netconf';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { BACKENDS } from '../../lib/firewall/backend';
import { inEveryBackend } from '../../lib/firewall/driver';
import { loadPortmapConfig } from './config';

export async function gc(inv: Invocation, runner: Runner = defaultRunner()): Promise<void> {
  const cfg = loadPortmapConfig(inv.config);
  const valid = validAttachmentsOf(inv.config);
  if (!valid) return;
  const keep = validKeys(valid);
  await inEveryBackend(
    runner,
    (d) => d.portForwarding.gc(inv.networkName, keep),
    cfg.backend ? [cfg.backend] : BACKENDS,
  );
}
