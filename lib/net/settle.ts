/**
 * Waits for IPv6 duplicate address detection inside a namespace, as the reference does when DAD
 * is on: no tentative address left → done; an address in DADFAILED state → error; still
 * tentative after the timeout → error (unless the link is down, where DAD never finishes).
 */
import { CniError, ErrorCode } from '../cni/errors';
import { ipJson } from './ip';

const POLL_MS = 50;

interface AddrInfo {
  readonly family?: string;
  readonly local?: string;
  readonly tentative?: boolean;
  readonly dadfailed?: boolean;
}

export async function settleIPv6(ifName: string, netns: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const links = (await ipJson(['-6', 'addr', 'show', 'dev', ifName], netns)) ?? [];
    const link = links[0] ?? {};
    const addrs = (Array.isArray(link['addr_info']) ? link['addr_info'] : []) as AddrInfo[];
    const failed = addrs.find((a) => a.dadfailed);
    if (failed)
      throw new CniError(ErrorCode.Internal, `link ${ifName} has address ${failed.local ?? '?'} in DADFAILED state`);
    if (!addrs.some((a) => a.tentative)) return;
    const up = Array.isArray(link['flags']) && (link['flags'] as unknown[]).includes('UP');
    if (!up) return;
    if (Date.now() >= deadline)
      throw new CniError(
        ErrorCode.Internal,
        `link ${ifName} still has tentative addresses after ${Math.round(timeoutMs / 1000)} seconds`,
      );
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
}
