/** bandwidth STATUS: ready when the configuration is valid (the kernel's tc needs no daemon). */
import type { Invocation } from '../../lib/cni/invocation';
import { loadBandwidthConfig } from './config';

export async function status(inv: Invocation): Promise<void> {
  loadBandwidthConfig(inv);
}
