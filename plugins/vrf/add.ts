/**
 * vrf ADD (chained): the VRF of the container's namespace, created when missing → the interface
 * moved into it, its IPv6 addresses and routes carried over → prevResult passed on unchanged.
 * A failure takes the interface out again and removes a VRF this call created (the reference
 * leaves both), and is reported as the reference words it: `cmdAdd failed: …`.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode, toCniError } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';
import type { Kernel } from '../../lib/net/kernel';
import { requireNetns } from '../../lib/net/open-netns';
import { UndoStack } from '../../lib/undo';
import { loadVrfConfig } from './config';
import { enslave, ensureVrf } from './vrf';

export async function add(inv: Invocation, kernel: Kernel): Promise<Result> {
  const cfg = loadVrfConfig(inv);
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'missing prevResult from earlier plugin');
  requireNetns(inv.netns);
  const undo = new UndoStack();
  const ctr = kernel.rtnl(inv.netns);
  try {
    await undo.guard(async () => {
      const vrf = ensureVrf(ctr, cfg.vrfName, cfg.table, undo);
      await enslave(ctr, vrf, inv.ifName, undo);
    });
  } catch (e) {
    const err = toCniError(e);
    throw new CniError(err.code, `cmdAdd failed: ${err.msg}`, err.details);
  } finally {
    ctr.close();
  }
  return { ...prev, cniVersion: inv.cniVersion };
}
