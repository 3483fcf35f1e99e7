/**
 * vrf configuration (reference: plugins/meta/vrf VRFNetConf): chained after an interface plugin,
 * it puts `CNI_IFNAME` into the VRF `vrfname` of the container's namespace, made on first use
 * with routing table `table` (0 = the lowest one no other VRF there uses).
 */
import type { Invocation } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import { isValidLinkName } from '../../lib/cni/names';
import * as t from '../../lib/cni/schema';

const decoder = t.object({ vrfname: t.optional(t.string), table: t.optional(t.uint) });

export interface VrfConfig {
  readonly vrfName: string;
  /** 0 = pick a free one. */
  readonly table: number;
}

export function loadVrfConfig(inv: Invocation): VrfConfig {
  const c = t.parseWith(decoder, inv.config, 'vrf configuration');
  if (!c.vrfname) throw new ConfigError('configuration is expected to have a valid vrf name');
  if (!isValidLinkName(c.vrfname))
    throw new ConfigError(`invalid vrf name ${JSON.stringify(c.vrfname)}`, 'a link name has 1 to 15 bytes');
  const table = c.table ?? 0;
  if (table > 0xffffffff) throw new ConfigError(`invalid table ${table}`, 'a routing table ID is 0 to 4294967295');
  return { vrfName: c.vrfname, table };
}
