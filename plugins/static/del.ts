/** static DEL: nothing was allocated, so there is nothing to release; the config is not even read. */
import type { Invocation } from '../../lib/cni/invocation';

export async function del(_inv: Invocation): Promise<void> {}
