/** portmap GC: forwarding of attachments not in cni.dev/valid-attachments goes; no list, no change. */
import type { Invocation } from '../../lib/cni/dispatch';
import { attachmentKey, validAttachmentsOf } from '../../lib/cni/netconf';
import { iptablesUsable, nftablesUsable } from '../../lib/nat/backend';
import { gcNft } from './nftables';
import { loadPortmapConfig } from './config';
import { gcIptables } from './iptables';

export async function gc(inv: Invocation): Promise<void> {
  const cfg = loadPortmapConfig(inv);
  const valid = validAttachmentsOf(inv);
  if (!valid) return;
  const ids = new Set(valid.map((a) => a.containerID));
  if (cfg.backend !== 'nftables' && (await iptablesUsable())) {
    await gcIptables(inv.networkName, ids, false);
    if (await iptablesUsable(undefined, 6)) await gcIptables(inv.networkName, ids, true);
  }
  if (cfg.backend !== 'iptables' && (await nftablesUsable()))
    await gcNft(inv.networkName, new Set(valid.map((a) => attachmentKey(a.containerID, a.ifname))));
}
