/**
 * portmap ADD: forward each host port to the container through the firewall driver (iptables:
 * one restore per family; nftables: one transaction for all families), then localhost support
 * (route_localnet) and UDP conntrack cleanup. prevResult passes through unchanged.
 */
import type { Invocation } from '../../lib/cni/dispatch';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { isValidLinkName } from '../../lib/cni/names';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { flushUdpConntrack } from '../../lib/firewall/conntrack';
import { withDriver } from '../../lib/firewall/driver';
import { bestEffort } from '../../lib/log';
import { ensureSysctl } from '../../lib/net/sysctl';
import { UndoStack, concurrently } from '../../lib/undo';
import { loadPortmapConfig } from './config';
import { containerIPs, type ContainerIP } from './container-ips';
import { attachmentOf, requestFor } from './plan';

/** The interface that routes to the container (normally the bridge). */
async function routeDev(runner: Runner, ip: ContainerIP): Promise<string | undefined> {
  const r = await runner.run({ tool: 'ip', argv: ['-j', 'route', 'get', ip.address], allowFailure: true });
  if (r.exitCode !== 0) return undefined;
  const rows: unknown = JSON.parse(r.stdout || '[]');
  const dev: unknown = Array.isArray(rows) ? (rows[0] as Record<string, unknown> | undefined)?.['dev'] : undefined;
  return typeof dev === 'string' && isValidLinkName(dev) ? dev : undefined;
}

export async function add(inv: Invocation, runner: Runner = defaultRunner()): Promise<Result> {
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
  const req = requestFor(inv, cfg, ips);
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
        await flushUdpConntrack(runner, cfg.mappings, ip.six);
        // Localhost → container needs route_localnet on the interface that routes to the container.
        const dev = !ip.six && cfg.snat ? await routeDev(runner, ip) : undefined;
        if (dev)
          await bestEffort('enable route_localnet', () => ensureSysctl(`net/ipv4/conf/${dev}/route_localnet`, '1'));
      }),
    );
  });
  return prev;
}
