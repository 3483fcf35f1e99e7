/**
 * dnsname CHECK: the network's resolver runs and the attachment's names are in its hosts file.
 * A resolver found dead is started again at once (the names come back), and CHECK still fails,
 * so that the runtime learns it had died.
 */
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ConfigError, ErrorCode } from '../../lib/cni/errors';
import { prevResultOf } from '../../lib/cni/netconf';
import { ownedBy } from '../../lib/dns/hosts';
import { defaultRunner } from '../../lib/exec/real';
import type { Runner } from '../../lib/exec/runner';
import { loadDnsnameConfig } from './config';
import { ensureResolver, factsOf, readLines, runningPid, withNetworkLock } from './resolver';

export async function check(inv: Invocation, runner: Runner = defaultRunner()): Promise<void> {
  const cfg = loadDnsnameConfig(inv);
  const prev = prevResultOf(inv.config, inv.cniVersion);
  if (!prev) throw new ConfigError('Required prevResult missing');
  const facts = factsOf(prev);
  await withNetworkLock(cfg.dir, async () => {
    const lines = readLines(cfg.dir);
    const named = cfg.podName !== undefined || cfg.aliases.length > 0;
    if (named && !lines.some((l) => ownedBy(l, inv.containerId, inv.ifName, cfg.podName)))
      throw new CniError(ErrorCode.Internal, `no names of this container in the hosts file of ${cfg.dir}`);
    if (runningPid(cfg.dir) === undefined) {
      await ensureResolver(runner, cfg.dir, { facts, domain: cfg.domain });
      throw new CniError(
        ErrorCode.Internal,
        'dnsmasq instance not running',
        `the resolver of network ${inv.networkName} had died; it has been started again`,
      );
    }
  });
}
