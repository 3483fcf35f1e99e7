/** The nftables backend of portmap: one `nft -j list table` read and one `nft -f -` write per verb. */
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { defaultRunner } from '../../lib/exec/real';
import {
  NFT_TABLE,
  conflicts,
  deleteLine,
  ownerComment,
  parseElements,
  parseOwner,
  renderElements,
  renderSkeleton,
  type NftElement,
  type NftPlan,
} from '../../lib/nat/portmap-nft';

async function listElements(): Promise<NftElement[]> {
  const r = await defaultRunner().run({
    tool: 'nft',
    argv: ['-j', 'list', 'table', 'inet', NFT_TABLE],
    allowFailure: true,
  });
  return r.exitCode === 0 ? parseElements(r.stdout) : [];
}
async function apply(lines: readonly string[]): Promise<void> {
  if (lines.length) await defaultRunner().run({ tool: 'nft', argv: ['-f', '-'], input: lines.join('\n') + '\n' });
}

/** Installs one container's elements for every family in `plans`, replacing its old ones. */
export async function setupNft(plans: readonly NftPlan[]): Promise<void> {
  const existing = await listElements();
  for (const p of plans) {
    const clash = conflicts(p, existing)[0];
    if (clash) {
      throw new CniError(
        ErrorCode.Internal,
        `host port ${clash.parts.join(' . ')} is already forwarded to another container`,
        `owner ${clash.comment}`,
      );
    }
  }
  const owner = plans[0]?.owner;
  const stale = existing.filter((e) => e.comment === owner).map(deleteLine);
  await apply([...renderSkeleton(), ...stale, ...plans.flatMap(renderElements)]);
}

/** Removes the container's elements; returns them. */
export async function teardownNft(net: string, cid: string, ifName: string): Promise<NftElement[]> {
  const owner = ownerComment(net, cid, ifName);
  const mine = (await listElements()).filter((e) => e.comment === owner);
  await apply(mine.map(deleteLine));
  return mine;
}

export async function checkNft(plans: readonly NftPlan[]): Promise<void> {
  const have = new Set((await listElements()).map((e) => `${e.set} ${e.key} ${e.comment}`));
  for (const p of plans) {
    for (const line of renderElements(p)) {
      // `add element inet tscni_hostport <set> { <key> comment "<owner>"[ : <value>] }`
      const m = /^add element \S+ \S+ (\S+) \{ (.*) comment "([^"]*)"/.exec(line);
      if (m && !have.has(`${m[1]} ${m[2]} ${m[3]}`))
        throw new CniError(ErrorCode.Internal, `missing hostport element ${m[2]} in ${m[1]}`);
    }
  }
}

/** GC: elements of this network whose (container, ifname) is not kept. Hashed owners are kept. */
export async function gcNft(net: string, keep: ReadonlySet<string>): Promise<void> {
  const stale = (await listElements()).filter((e) => {
    const o = parseOwner(e.comment);
    return o !== undefined && o.net === net && !keep.has(`${o.cid}\u0000${o.ifName}`);
  });
  await apply(stale.map(deleteLine));
}
