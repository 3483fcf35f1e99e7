/**
 * UDP conntrack cleanup for host ports: a stale entry would keep sending a mapped port's
 * datagrams to an old destination. Limited to the mapping's host IP when it has one (the
 * reference deletes by port alone, also other addresses' flows).
 */
import { familyOfText, type Family } from '../addr/ip';
import type { Runner } from '../exec/runner';
import { warn } from '../log';
import type { PortMapping } from './types';

const unspecified = (ip: string): boolean => ip === '' || ip === '0.0.0.0' || ip === '::';

export async function flushUdpConntrack(
  runner: Runner,
  mappings: readonly PortMapping[],
  family: Family,
): Promise<void> {
  for (const m of mappings) {
    if (m.protocol !== 'udp') continue;
    if (!unspecified(m.hostIP) && familyOfText(m.hostIP) !== family) continue;
    const argv = ['-D', '-f', family === 6 ? 'ipv6' : 'ipv4', '-p', 'udp', '--orig-port-dst', String(m.hostPort)];
    if (!unspecified(m.hostIP)) argv.push('--orig-dst', m.hostIP);
    try {
      // Exit 1 with "0 flow entries have been deleted" is the normal nothing-to-do answer.
      await runner.run({ tool: 'conntrack', argv, allowFailure: true, timeoutMs: 10_000 });
    } catch (e) {
      warn(`conntrack cleanup skipped: ${(e as Error).message}`);
      return;
    }
  }
}
