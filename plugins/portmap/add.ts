/**
 * portmap ADD: forward each host port to the container through the firewall driver (iptables:
 * one restore per family; nftables: one transaction for all families), then localhost support
 * (route_localnet) and UDP conntrack cleanup. prevResult passes through unchanged.
 */
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { isValidLinkName } from '../../lib/cni/names';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { flushUdpConntrack } from '../../lib/firewall/conntrack';
import { withDriver } from '../../lib/firewall/driver';
import { bestEffort } from '../../lib/log';
import { openRtnl } from '../../lib/net/rtnl';
import type { Rtnl } from '../../lib/netlink';
import { ensureSysctl } from '../../lib/net/sysctl';
import { concurrently } from '../../lib/async';
import { UndoStack } from '../../lib/undo';
import { loadPortmapConfig } from './config';
import { containerIPs, type ContainerIP } from './container-ips';
import { clearTeardown } from '../../lib/state/marks';
import { requestFor } from './plan';

/** The interface that routes to the container (normally the bridge); undefined when unroutable. */
function routeDev(ip: ContainerIP): string | undefined {
  let host: Rtnl | undefined;
  try {
    host = openRtnl();
    const oif = host.routeTo(ip.address)?.oif;
    const name = oif === undefined ? undefined : host.linkByIndex(oif)?.name;
    return name !== undefined && isValidLinkName(name) ? name : undefined;
  } catch {
    return undefined; // no route (or no netlink, in unit tests): nothing to enable
  } finally {
    host?.close();
  }
}

export async function add(inv: Invocation, runner: Runner = defaultRunner()): Promise<Result> {
  const cfg = loadPortmapConfig(inv.config);
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'must be called as chained plugin');
  if (cfg.mappings.length === 0) return prev;
  clearTeardown(inv.env, attachmentOf(inv));
  const ips = containerIPs(prev, inv.ifName);
  if (ips.length === 0)
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      'prevResult has no usable container address',
      `no address on interface ${inv.ifName}`,
    );
  const undo = new UndoStack();
  const req = requestFor(attachmentOf(inv), cfg, ips);
  await undo.guard(async () => {
    await withDriver(
      cfg.backend,
      runner,
      async (d) => {
        undo.push('remove port forwarding', () => d.portForwarding.teardown(req.attachment));
        await d.portForwarding.setup(req);
      },
      (iptables) => iptables.portForwarding.teardown(attachmentOf(inv)),
    );
    await concurrently(
      ...ips.map(async (ip) => {
        await flushUdpConntrack(runner, cfg.mappings, ip.family);
        // Localhost → container needs route_localnet on the interface that routes to the container.
        const dev = ip.family === 4 && cfg.snat ? routeDev(ip) : undefined;
        if (dev)
          await bestEffort('enable route_localnet', async () =>
            ensureSysctl(`net/ipv4/conf/${dev}/route_localnet`, '1'),
          );
      }),
    );
  });
  return prev;
}
