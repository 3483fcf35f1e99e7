/**
 * Netlink handles as the plugins use them: one socket per namespace, each request traced to the
 * debug log (TSCNI_DEBUG=1 shows every kernel change a verb makes, one line each).
 */
import { debug, debugOn } from '../log';
import { Rtnl } from '../netlink';

/** A netlink socket in this namespace, or inside the one at `netnsPath`. */
export function openRtnl(netnsPath?: string): Rtnl {
  const where = netnsPath ? ` [${netnsPath}]` : '';
  return Rtnl.open({ netnsPath, trace: debugOn() ? (line) => debug(`netlink${where} ${line}`) : undefined });
}
