/** portmap CHECK: every expected forwarding rule or map element is installed. */
import type { Invocation } from '../../lib/cni/dispatch';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import { defaultBackend } from '../../lib/nat/backend';
import { loadPortmapConfig, nftablesNotYet } from './config';
import { containerIPs } from './container-ips';
import { checkIptables } from './iptables';
import { planFor } from './plan';

export async function check(inv: Invocation): Promise<void> {
  const cfg = loadPortmapConfig(inv);
  const prev = prevResultOf(inv);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing');
  if (cfg.mappings.length === 0) return;
  const backend = cfg.backend ?? (await defaultBackend());
  for (const ip of containerIPs(prev, inv.ifName)) {
    const plan = planFor(inv, cfg, ip);
    if (backend !== 'iptables') throw nftablesNotYet();
    await checkIptables(plan);
  }
}
