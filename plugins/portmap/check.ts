/** portmap CHECK: every expected forwarding rule or map element is installed. */
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { withDriver } from '../../lib/firewall/driver';
import { loadPortmapConfig } from './config';
import { containerIPs } from './container-ips';
import { requestFor } from './plan';

export async function check(inv: Invocation, runner: Runner = defaultRunner()): Promise<void> {
  const cfg = loadPortmapConfig(inv.config);
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'Required prevResult missing');
  if (cfg.mappings.length === 0) return;
  const req = requestFor(attachmentOf(inv), cfg, containerIPs(prev, inv.ifName));
  await withDriver(cfg.backend, runner, (d) => d.portForwarding.check(req));
}
