/**
 * ADD: the daemon gets a lease for the container's interface (DHCP from inside its namespace)
 * and keeps it renewed; the result is the lease's address, gateway, routes and DNS.
 */
import { isAbsolute, resolve } from 'node:path';
import { attachmentOf, type Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { parseResult } from '../../lib/cni/result/decode';
import type { Result } from '../../lib/cni/result/types';
import { loadConfig } from './config';
import { ask } from './daemon-call';

export async function add(inv: Invocation): Promise<Result> {
  const conf = loadConfig(inv.config, inv.cniArgs);
  // The daemon may run in another working directory: it gets an absolute path.
  const netns = isAbsolute(inv.netns) ? inv.netns : resolve(inv.netns);
  const raw = await ask(conf.socketPath, {
    op: 'allocate',
    attachment: attachmentOf(inv),
    netns,
    options: conf.options,
    priority: conf.priority,
  });
  if (!raw) throw new CniError(ErrorCode.Internal, 'the dhcp daemon returned no result');
  const result = parseResult(raw, '1.0.0', 'the dhcp daemon result');
  return { ...result, cniVersion: inv.cniVersion };
}
