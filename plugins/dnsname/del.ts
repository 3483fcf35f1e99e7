/**
 * dnsname DEL: the attachment's lines leave the hosts file (ours by the attachment named in their
 * comment, the reference's by the container name, as it removes them); with the network's last
 * container its resolver stops and its state directory goes. It returns once the resolver has
 * read the hosts file without them (resolver.ts: hostsLoaded). Never fails on what it is told
 * about the container it removes, like the reference (which returns no error from DEL at all);
 * a resolver that cannot be stopped is an error, so the runtime retries.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { prevResultOf } from '../../lib/cni/netconf';
import { ownedBy, type HostLine } from '../../lib/dns/hosts';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { warn } from '../../lib/log';
import { loadDnsnameConfig } from './config';
import { existsSync } from 'node:fs';
import {
  ensureResolver,
  factsOf,
  hostsLoaded,
  readLines,
  runningPid,
  teardownResolver,
  watchHosts,
  withNetworkLock,
  writeLines,
  type NetworkFacts,
  type Probe,
} from './resolver';

export async function del(inv: Invocation, runner: Runner = defaultRunner()): Promise<void> {
  const cfg = loadDnsnameConfig(inv);
  if (!existsSync(cfg.dir)) return;
  const prev = prevResultOf(inv.config, inv.cniVersion, true);
  let facts: NetworkFacts | undefined;
  try {
    facts = prev ? factsOf(prev) : undefined;
  } catch (e) {
    warn(`dnsname DEL: ignoring prevResult: ${(e as Error).message}`);
  }
  await withNetworkLock(cfg.dir, async () => {
    const lines = readLines(cfg.dir);
    const mine = lines.filter((l) => ownedBy(l, inv.containerId, inv.ifName, cfg.podName));
    const keep = lines.filter((l) => !mine.includes(l));
    const name = mine[0]?.names[0];
    const probe =
      name && facts
        ? {
            servers: facts.gateways.map((g) => g.slice(0, g.indexOf('/'))),
            name,
            ips: mine.filter((l) => l.names[0] === name && !keep.some((k) => k.names.includes(name))).map((l) => l.ip),
            present: false,
          }
        : undefined;
    await converge(runner, cfg.dir, keep, mine.length > 0, facts, cfg.domain, probe);
  });
}

/**
 * Writes what is left of the hosts file and brings the resolver in line with it: stopped and
 * removed when nothing is left, else reloaded (or, when it died, started again where prevResult
 * says how). When the file changed it returns once the resolver has read it (or, without
 * inotify, answers `probe` as wanted).
 */
export async function converge(
  runner: Runner,
  dir: string,
  keep: readonly HostLine[],
  changed: boolean,
  facts: NetworkFacts | undefined,
  domain: string,
  probe?: Probe,
): Promise<void> {
  if (keep.length === 0) return teardownResolver(dir);
  if (changed) writeLines(dir, keep);
  const watch = changed ? watchHosts(dir) : undefined;
  try {
    if (facts) await ensureResolver(runner, dir, { facts, domain });
    else {
      const pid = runningPid(dir);
      if (pid === undefined) return; // nothing serves the names: nothing to wait for
      process.kill(pid, 'SIGHUP');
    }
    if (changed) await hostsLoaded(watch, probe);
  } finally {
    watch?.close();
  }
}
