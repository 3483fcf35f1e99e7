/**
 * dummy configuration (reference: plugins/main/dummy): no keys of its own; IPAM is required (a
 * dummy link is only there to carry addresses).
 */
import type { Invocation } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import * as t from '../../lib/cni/schema';

const decoder = t.object({ ipam: t.optional(t.object({ type: t.optional(t.string) })) });

/** The IPAM plugin's type; a config without one is the reference's error (code 7 here). */
export function loadDummyIpamType(inv: Invocation): string {
  const type = t.parseWith(decoder, inv.config, 'dummy configuration').ipam?.type ?? '';
  if (type === '') throw new ConfigError('dummy interface requires an IPAM configuration');
  return type;
}
