/**
 * host-device DEL: the lease goes, and the device comes back to the host under its name, with
 * its former alias and up state and without the container's addresses (restore.ts). Each step
 * runs even when another failed; the record stays until the device is back, so a retried DEL
 * (or GC) finishes the job. Works without CNI_NETNS, after the namespace died, and twice.
 */
import { delegate } from '../../lib/cni/delegate';
import type { Invocation } from '../../lib/cni/invocation';
import { Failures } from '../../lib/cni/errors';
import type { Kernel } from '../../lib/net/kernel';
import { loadStateConfig } from './config';
import { DeviceRecords } from './records';
import { bringBack } from './restore';

export async function del(inv: Invocation, kernel: Kernel): Promise<void> {
  const cfg = loadStateConfig(inv.config, inv.env);
  const records = new DeviceRecords(cfg.dataDir, cfg.ownDataDir);
  const rec = records.read(inv.networkName, inv.containerId, inv.ifName);
  const failures = new Failures();
  const step = async (fn: () => Promise<unknown>): Promise<void> => fn().then(() => undefined, failures.of());
  if (cfg.ipamType !== '') await step(() => delegate('DEL', cfg.ipamType, inv, { runner: kernel.runner }));
  await step(() => bringBack(kernel, inv.netns, inv.ifName, rec));
  failures.throwIfAny();
  records.remove(inv.networkName, inv.containerId, inv.ifName);
}
