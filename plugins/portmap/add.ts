/**
 * portmap ADD: forward each host port to the container, per address family, in one firewall
 * transaction per family; then localhost support (route_localnet) and UDP conntrack cleanup.
 * prevResult passes through unchanged.
 */
import type { Invocation } from '../../lib/cni/dispatch';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';
import { bestEffort } from '../../lib/log';
import { defaultBackend } from '../../lib/nat/backend';
import { flushUdpConntrack } from '../../lib/nat/conntrack';
import { ipJson } from '../../lib/net/ip';
import { ensureSysctl } from '../../lib/net/sysctl';
import { UndoStack } from '../../lib/undo';
import { loadPortmapConfig, nftablesNotYet } from './config';
import { containerIPs } from './container-ips';
import { setupIptables, teardownIptables } from './iptables';
import { planFor } from './plan';

export async function add(inv: Invocation): Promise<Result> {
  const cfg = loadPortmapConfig(inv);
  const prev = prevResultOf(inv);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'must be called as chained plugin');
  if (cfg.mappings.length === 0) return prev;
  const ips = containerIPs(prev, inv.ifName);
  if (ips.length === 0) throw new CniError(ErrorCode.InvalidNetworkConfig, 'prevResult has no usable container address', `no address on interface ${inv.ifName}`);
  const backend = cfg.backend ?? (await defaultBackend());
  const undo = new UndoStack();
  await undo.guard(async () => {
    for (const ip of ips) {
      const plan = planFor(inv, cfg, ip);
      if (backend !== 'iptables') throw nftablesNotYet();
      undo.push('remove port forwarding', () => teardownIptables(inv.networkName, inv.containerId, ip.six));
      await setupIptables(plan);
      await flushUdpConntrack(cfg.mappings, ip.six);
      if (!ip.six && cfg.snat) {
        // Localhost → container needs route_localnet on the interface that routes to the container.
        const route = await ipJson(['route', 'get', ip.address]);
        const dev = route?.[0]?.['dev'];
        if (typeof dev === 'string') await bestEffort('enable route_localnet', () => ensureSysctl(`net/ipv4/conf/${dev}/route_localnet`, '1'));
      }
    }
  });
  return prev;
}
