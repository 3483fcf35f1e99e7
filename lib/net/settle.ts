/**
 * Waits for IPv6 duplicate address detection on a container interface, as the reference does
 * when DAD is on: no tentative address left → done; an address in DADFAILED state → error;
 * still tentative after the timeout → error (unless the link is down, where DAD never finishes).
 */
import { CniError, ErrorCode } from '../cni/errors';
import type { Rtnl } from '../netlink';

const POLL_MS = 50;

export async function settleIPv6(ctr: Rtnl, index: number, ifName: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const addrs = ctr.addrs({ family: 6, index });
    const failed = addrs.find((a) => a.flags.dadfailed);
    if (failed)
      throw new CniError(ErrorCode.Internal, `link ${ifName} has address ${failed.address} in DADFAILED state`);
    if (!addrs.some((a) => a.flags.tentative)) return;
    if (!ctr.linkByIndex(index)?.flags.up) return;
    if (Date.now() >= deadline)
      throw new CniError(
        ErrorCode.Internal,
        `link ${ifName} still has tentative addresses after ${Math.round(timeoutMs / 1000)} seconds`,
      );
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
}
