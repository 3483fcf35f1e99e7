/**
 * dnsname configuration, containers/dnsname's keys: `domainName`, and `runtimeConfig.aliases`
 * (capability `aliases`: network name → the container's extra names on it). The container's own
 * name is `K8S_POD_NAME` in CNI_ARGS, as podman sends it. Every name is checked before it reaches
 * the hosts file: a host name of letters, digits, '-' and '_' (lib/dns/hosts.ts).
 */
import { parseCniArgs } from '../../lib/cni/args';
import type { Invocation } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import * as t from '../../lib/cni/schema';
import { isDnsName } from '../../lib/dns/hosts';
import { networkDir } from '../../lib/dns/paths';

const decoder = t.object({
  domainName: t.optional(t.string),
});

export interface DnsnameConfig {
  /** '' when not configured: names are served bare only. */
  readonly domain: string;
  /** The container's name; undefined when the runtime sent none (then only its aliases are served). */
  readonly podName: string | undefined;
  readonly aliases: readonly string[];
  /** The network's state directory (lib/dns/paths.ts). */
  readonly dir: string;
}

function aliasesOf(inv: Invocation): string[] {
  const rc = inv.config['runtimeConfig'];
  if (rc === undefined || rc === null) return [];
  if (typeof rc !== 'object' || Array.isArray(rc)) throw new ConfigError('runtimeConfig must be an object');
  const all = (rc as Record<string, unknown>)['aliases'];
  if (all === undefined || all === null) return [];
  if (typeof all !== 'object' || Array.isArray(all))
    throw new ConfigError('runtimeConfig.aliases must be an object of network name → list of names');
  const mine = (all as Record<string, unknown>)[inv.networkName];
  if (mine === undefined || mine === null) return [];
  if (!Array.isArray(mine) || !mine.every((a): a is string => typeof a === 'string'))
    throw new ConfigError(`runtimeConfig.aliases.${inv.networkName} must be a list of names`);
  return mine;
}

export function loadDnsnameConfig(inv: Invocation): DnsnameConfig {
  const c = t.parseWith(decoder, inv.config, 'dnsname configuration');
  const domain = c.domainName ?? '';
  if (domain !== '' && !isDnsName(domain)) throw new ConfigError(`invalid domainName ${JSON.stringify(domain)}`);
  const args = parseCniArgs(inv.cniArgs, ['K8S_POD_NAME']);
  const podName = args['K8S_POD_NAME'] || undefined;
  if (podName !== undefined && !isDnsName(podName))
    throw new ConfigError(`invalid container name ${JSON.stringify(podName)} (K8S_POD_NAME)`, 'not a host name');
  const aliases = aliasesOf(inv);
  for (const a of aliases)
    if (!isDnsName(a)) throw new ConfigError(`invalid alias ${JSON.stringify(a)}`, 'not a host name');
  return { domain, podName, aliases: [...new Set(aliases)], dir: networkDir(inv.env, inv.networkName) };
}
