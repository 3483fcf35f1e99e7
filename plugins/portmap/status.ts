/** portmap STATUS: code 50 when the selected firewall backend cannot be used. */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { backendUsable, iptablesUsable, nftablesUsable } from '../../lib/firewall/backend';
import { loadPortmapConfig } from './config';

export async function status(inv: Invocation, runner: Runner = defaultRunner()): Promise<void> {
  const cfg = loadPortmapConfig(inv.config);
  const ok = cfg.backend
    ? await backendUsable(cfg.backend, runner)
    : (await iptablesUsable(runner)) || (await nftablesUsable(runner));
  if (!ok)
    throw new CniError(ErrorCode.NotAvailable, `the ${cfg.backend ?? 'iptables or nftables'} backend is not usable`);
}
