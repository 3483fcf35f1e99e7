/** firewall STATUS: code 50 when the backend ADD would use cannot be used, or records cannot be written. */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { backendUsable, iptablesUsable, nftablesUsable } from '../../lib/firewall/backend';
import { loadFirewallConfig } from './config';
import { requireFirewalld } from './rules';
import { firewalldRunning } from '../../lib/firewall/firewalld';

export async function status(inv: Invocation, runner: Runner = defaultRunner()): Promise<void> {
  const cfg = loadFirewallConfig(inv.config);
  if (cfg.backend === 'firewalld') await requireFirewalld(runner, inv.env);
  else if (cfg.backend) {
    if (!(await backendUsable(cfg.backend, runner)))
      throw new CniError(ErrorCode.NotAvailable, `the ${cfg.backend} backend is not usable`);
  } else if (!(
    (await firewalldRunning(runner, inv.env)) ||
    (await iptablesUsable(runner)) ||
    (await nftablesUsable(runner))
  ))
    throw new CniError(ErrorCode.NotAvailable, 'neither firewalld, iptables nor nftables is usable');
  // The records directory, or the nearest existing directory above it, must be writable.
  let dir = cfg.dataDir;
  while (!existsSync(dir) && dir !== '/') dir = dirname(dir);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new CniError(ErrorCode.NotAvailable, `firewall dataDir ${cfg.dataDir} is not writable`);
  }
}
