/** portmap STATUS: code 50 when the selected firewall backend cannot be used. */
import type { Invocation } from '../../lib/cni/dispatch';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { iptablesUsable, nftablesUsable } from '../../lib/nat/backend';
import { loadPortmapConfig } from './config';

export async function status(inv: Invocation): Promise<void> {
  const cfg = loadPortmapConfig(inv);
  const ipt = await iptablesUsable();
  const nft = cfg.backend === 'iptables' ? false : await nftablesUsable();
  const ok = cfg.backend === 'iptables' ? ipt : cfg.backend === 'nftables' ? nft : ipt || nft;
  if (!ok)
    throw new CniError(ErrorCode.NotAvailable, `the ${cfg.backend ?? 'iptables or nftables'} backend is not usable`);
}
