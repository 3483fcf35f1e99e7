/**
 * portmap ADD: forward each host port to the container — iptables: one restore per family;
 * nftables: one transaction for all families — then localhost support (route_localnet) and UDP
 * conntrack cleanup. prevResult passes through unchanged.
 */
import type { Invocation } from '../../lib/cni/dispatch';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';
import { bestEffort } from '../../lib/log';
import { withBackend, type Backend } from '../../lib/nat/backend';
import { flushUdpConntrack } from '../../lib/nat/conntrack';
import { openRtnl } from '../../lib/net/rtnl';
import { ensureSysctl } from '../../lib/net/sysctl';
import { UndoStack, concurrently } from '../../lib/undo';
import { loadPortmapConfig } from './config';
import { containerIPs, type ContainerIP } from './container-ips';
import { setupIptables, teardownIptables } from './iptables';
import { setupNft, teardownNft } from './nftables';
import { nftPlanFor, planFor } from './plan';

/** The interface that routes to the container (normally the bridge). */
/** The interface this host routes the container's address through; undefined when unroutable. */
function routeDev(ip: ContainerIP): string | undefined {
  const host = openRtnl();
  try {
    const oif = host.routeTo(ip.address)?.oif;
    return oif === undefined ? undefined : host.linkByIndex(oif)?.name;
  } catch {
    return undefined;
  } finally {
    host.close();
  }
}

export async function add(inv: Invocation): Promise<Result> {
  const cfg = loadPortmapConfig(inv);
  const prev = prevResultOf(inv);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'must be called as chained plugin');
  if (cfg.mappings.length === 0) return prev;
  const ips = containerIPs(prev, inv.ifName);
  if (ips.length === 0)
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      'prevResult has no usable container address',
      `no address on interface ${inv.ifName}`,
    );
  const undo = new UndoStack();
  const teardownAllIptables = (): Promise<unknown> =>
    concurrently(...ips.map((ip) => teardownIptables(inv.networkName, inv.containerId, ip.six)));
  const forward = async (backend: Backend): Promise<void> => {
    if (backend === 'nftables') {
      undo.push('remove port forwarding', () => teardownNft(inv.networkName, inv.containerId, inv.ifName));
      await setupNft(ips.map((ip) => nftPlanFor(inv, cfg, ip)));
      return;
    }
    undo.push('remove port forwarding', teardownAllIptables);
    // One restore per family; the families are independent.
    await concurrently(...ips.map((ip) => setupIptables(planFor(inv, cfg, ip))));
  };
  await undo.guard(async () => {
    await withBackend(cfg.backend, forward, teardownAllIptables);
    await concurrently(
      ...ips.map(async (ip) => {
        await flushUdpConntrack(cfg.mappings, ip.six);
        // Localhost → container needs route_localnet on the interface that routes to the container.
        const dev = !ip.six && cfg.snat ? routeDev(ip) : undefined;
        if (dev)
          await bestEffort('enable route_localnet', async () =>
            ensureSysctl(`net/ipv4/conf/${dev}/route_localnet`, '1'),
          );
      }),
    );
  });
  return prev;
}
