/**
 * One request to the dhcp daemon, its failures turned into CNI errors: no daemon is code 11
 * (try again later) at once, naming the socket; the daemon's own errors keep their code.
 */
import { CniError, ErrorCode, foreignCode } from '../../lib/cni/errors';
import { callDaemon, DaemonUnreachable, type DaemonRequest } from '../../lib/dhcp/protocol';
import type { Result } from '../../lib/cni/result/types';

export async function ask(socketPath: string, req: DaemonRequest): Promise<Result | undefined> {
  let res;
  try {
    res = await callDaemon(socketPath, req);
  } catch (e) {
    if (e instanceof DaemonUnreachable && e.notRunning)
      throw new CniError(
        ErrorCode.TryAgainLater,
        `the dhcp daemon is not running: nothing listens on ${socketPath}`,
        `${e.reason}; start it with \`dhcp daemon\` (see the README's dhcp section)`,
      );
    if (e instanceof DaemonUnreachable)
      throw new CniError(ErrorCode.TryAgainLater, `error talking to the dhcp daemon on ${socketPath}`, e.reason);
    throw e;
  }
  if (!res.ok) throw new CniError(foreignCode(res.error.code), res.error.msg, res.error.details);
  return res.result;
}
