/** bridge STATUS: iproute2 must work; then whatever the IPAM plugin says. */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/dispatch';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { ipTry } from '../../lib/net/ip';
import { loadBridgeConfig } from './config';

export async function status(inv: Invocation): Promise<void> {
  const cfg = loadBridgeConfig(inv);
  const probe = await ipTry(['-V']).catch((e: unknown) => ({ exitCode: -1, stderr: (e as Error).message }));
  if (probe.exitCode !== 0) throw new CniError(ErrorCode.NotAvailable, 'iproute2 is not usable', probe.stderr.trim());
  if (cfg.ipamType !== '') await delegate('STATUS', cfg.ipamType, inv);
}
