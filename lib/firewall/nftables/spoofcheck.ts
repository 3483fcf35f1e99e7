/**
 * MAC spoof check for a bridge port (bridge `macspoofchk`), nftables only (bridge family), with the
 * reference's names so either implementation can remove the other's: table `bridge nat`, base chain PREROUTING, per attachment
 * chains `cni-br-iface-<id>-<ifname>` and `…-mac`, every rule commented `macspoofchk-<id>-<ifname>`.
 * Frames entering from the container's port with another source MAC are dropped. Setup and
 * teardown are one `nft -f` each; teardown needs only the attachment, not the veth name.
 */
import { CniError, ErrorCode } from '../../cni/errors';
import type { Runner } from '../../exec/runner';
import { nftApply, nftRead, nftTransact } from './nft';

const TABLE = 'bridge nat';
export const spoofRef = (containerId: string, ifName: string): string => `${containerId}-${ifName}`;
const chains = (ref: string): [string, string] => [`cni-br-iface-${ref}`, `cni-br-iface-${ref}-mac`];

export function renderSpoofcheckSetup(ref: string, hostVeth: string, mac: string): string[] {
  const [iface, macChain] = chains(ref);
  const c = `comment "macspoofchk-${ref}"`;
  return [
    `add table ${TABLE}`,
    `add chain ${TABLE} PREROUTING { type filter hook prerouting priority -300 ; policy accept ; }`,
    `add chain ${TABLE} ${iface}`,
    `add chain ${TABLE} ${macChain}`,
    `flush chain ${TABLE} ${iface}`,
    `flush chain ${TABLE} ${macChain}`,
    `add rule ${TABLE} ${iface} jump ${macChain} ${c}`,
    `add rule ${TABLE} ${macChain} ether saddr ${mac} return ${c}`,
    `add rule ${TABLE} ${macChain} drop ${c}`,
    `add rule ${TABLE} PREROUTING iifname "${hostVeth}" jump ${iface} ${c}`,
  ];
}

/** `delete` lines for the attachments whose ref `stale` accepts, from `nft -a list table bridge nat`. */
export function renderSpoofcheckTeardown(listing: string, stale: (ref: string) => boolean): string[] {
  const out: string[] = [];
  const doomed = new Set<string>();
  for (const line of listing.split('\n')) {
    const rule = /jump (cni-br-iface-\S+) comment "macspoofchk-(\S+)" # handle (\d+)/.exec(line);
    if (rule?.[2] && rule[3] && stale(rule[2]) && line.includes('iifname'))
      out.push(`delete rule ${TABLE} PREROUTING handle ${rule[3]}`);
    const chain = /^\s*chain (cni-br-iface-(\S+?)(-mac)?) \{/.exec(line);
    if (chain?.[1] && chain[2] && stale(chain[2])) doomed.add(chain[1]);
  }
  // The -mac chain is referenced by the iface chain: delete the referring chain first.
  for (const ch of [...doomed].sort((a, b) => Number(a.endsWith('-mac')) - Number(b.endsWith('-mac'))))
    out.push(`delete chain ${TABLE} ${ch}`);
  return out;
}

const listing = async (runner: Runner): Promise<string> =>
  (await nftRead(runner, ['-a', 'list', 'table', 'bridge', 'nat'])) ?? '';

export async function setupSpoofcheck(runner: Runner, ref: string, hostVeth: string, mac: string): Promise<void> {
  await nftApply(runner, renderSpoofcheckSetup(ref, hostVeth, mac));
}
export async function teardownSpoofcheck(runner: Runner, ref: string): Promise<void> {
  await nftTransact(runner, async () => renderSpoofcheckTeardown(await listing(runner), (r) => r === ref));
}
/** GC: spoof checks of attachments (refs `<id>-<ifname>`) not in `keep`. */
export async function gcSpoofcheck(runner: Runner, keep: ReadonlySet<string>): Promise<void> {
  await nftTransact(runner, async () => renderSpoofcheckTeardown(await listing(runner), (r) => !keep.has(r)));
}

/** Throws when the attachment's spoof check is not complete (its jump, its chains and their rules). */
export async function checkSpoofcheck(runner: Runner, ref: string, hostVeth: string, mac: string): Promise<void> {
  const table = (await nftRead(runner, ['list', 'table', 'bridge', 'nat'])) ?? '';
  const [iface, macChain] = chains(ref);
  const c = `comment "macspoofchk-${ref}"`;
  const lines = new Set(table.split('\n').map((l) => l.trim()));
  const want = [
    `iifname "${hostVeth}" jump ${iface} ${c}`,
    `jump ${macChain} ${c}`,
    `ether saddr ${mac} return ${c}`,
    `drop ${c}`,
  ];
  for (const rule of want)
    if (!lines.has(rule))
      throw new CniError(ErrorCode.Internal, 'MAC spoof check rule not found in table bridge nat', rule);
}
