/** portmap CHECK: every expected forwarding rule or map element is installed. */
import type { Invocation } from '../../lib/cni/dispatch';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import { withBackend } from '../../lib/nat/backend';
import { loadPortmapConfig } from './config';
import { checkNft } from './nftables';
import { containerIPs } from './container-ips';
import { checkIptables } from './iptables';
import { nftPlanFor, planFor } from './plan';

export async function check(inv: Invocation): Promise<void> {
  const cfg = loadPortmapConfig(inv);
  const prev = prevResultOf(inv);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing');
  if (cfg.mappings.length === 0) return;
  const ips = containerIPs(prev, inv.ifName);
  await withBackend(
    cfg.backend,
    async (backend) => {
      if (backend === 'nftables') return checkNft(ips.map((ip) => nftPlanFor(inv, cfg, ip)));
      for (const ip of ips) await checkIptables(planFor(inv, cfg, ip));
    },
    async () => undefined,
  );
}
