/**
 * dnsname ADD (chained after bridge): the container's name and aliases, with each of its
 * addresses, go into the network's hosts file in place of whatever this attachment had there;
 * the network's resolver is started (first container) or told to reload; ADD returns once the
 * resolver has read them (resolver.ts: hostsLoaded). The result is prevResult with the
 * resolver's addresses first in `dns.nameservers` and `domainName` in `dns.search`, as
 * containers/dnsname returns it.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import type { Result } from '../../lib/cni/result/types';
import { ownedBy, type HostLine } from '../../lib/dns/hosts';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { loadDnsnameConfig } from './config';
import { ensureResolver, factsOf, hostsLoaded, readLines, watchHosts, withNetworkLock, writeLines } from './resolver';

export async function add(inv: Invocation, runner: Runner = defaultRunner()): Promise<Result> {
  const cfg = loadDnsnameConfig(inv);
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new ConfigError('must be called as chained plugin');
  const facts = factsOf(prev);
  const names = [...(cfg.podName ? [cfg.podName] : []), ...cfg.aliases.filter((a) => a !== cfg.podName)];
  const owner = { containerId: inv.containerId, ifName: inv.ifName };
  const servers = await withNetworkLock(cfg.dir, async () => {
    const others = readLines(cfg.dir).filter((l) => !ownedBy(l, inv.containerId, inv.ifName, cfg.podName));
    const mine: HostLine[] = names.length > 0 ? facts.ips.map((ip) => ({ ip, names, owner })) : [];
    writeLines(cfg.dir, [...others, ...mine]);
    const watch = watchHosts(cfg.dir);
    try {
      const listening = await ensureResolver(runner, cfg.dir, { facts, domain: cfg.domain });
      const probe = names[0] ? { servers: listening, name: names[0], ips: facts.ips, present: true } : undefined;
      await hostsLoaded(watch, probe);
      return listening;
    } finally {
      watch?.close();
    }
  });
  const dns = prev.dns ?? {};
  return {
    ...prev,
    dns: {
      ...dns,
      nameservers: [...servers, ...(dns.nameservers ?? []).filter((s) => !servers.includes(s))],
      search: [...(dns.search ?? []), ...(cfg.domain && !(dns.search ?? []).includes(cfg.domain) ? [cfg.domain] : [])],
    },
  };
}
