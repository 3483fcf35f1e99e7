/**
 * IP masquerade through iptables (bridge `ipMasq`), with the reference's names so that rules made
 * by either implementation are found by the other: a chain `CNI-<hash(net+id)>` per container in
 * table nat, jumped to from POSTROUTING by source address, every rule commented
 * `name: "<net>" id: "<cid>"`. Teardown finds the chain by network name and container ID, never
 * by addresses, so it also works after the container's interface or netns is gone.
 */
import { FAMILIES, bitsOf, familyOfText, type Family } from '../../addr/ip';
import { CniError, ErrorCode } from '../../cni/errors';
import type { Runner } from '../../exec/runner';
import { concurrently } from '../../async';
import { chainName, ruleComment } from '../names';
import { containerIdOfKey, type Attachment } from '../../cni/invocation';
import { addrText, iptChain, iptComment } from '../text';
import type { Masquerade, MasqAddress } from '../types';
import type { RestoreBatch } from '../batch';
import { brokenBy, combine, INTACT, unsure, type Finding, type RulesetSnapshot } from '../snapshot';
import { firstMissingRule, listChains, renderChainRemoval, restore, saveTable, type IndexedTable } from './tables';

/**
 * iptables-restore text that (re)creates the container's chain and its POSTROUTING jumps;
 * jumps already in `postrouting` (a listing of POSTROUTING) are not added twice. With `create`
 * the chain is made with `-N`, so the whole restore fails when it exists already: the first
 * setup of an attachment needs no read of the table first.
 */
export function renderMasqSetup(
  a: Attachment,
  addrs: readonly MasqAddress[],
  family: Family,
  postrouting = '',
  create = false,
): string {
  const present = new Set(postrouting.split('\n'));
  const chain = iptChain(chainName(a.networkName, a.containerId));
  const c = iptComment(ruleComment(a.networkName, a.containerId));
  const multicast = family === 6 ? 'ff00::/8' : '224.0.0.0/4';
  const lines = ['*nat', create ? `-N ${chain}` : `:${chain} - [0:0]`];
  for (const x of addrs) {
    const jump = `-A POSTROUTING -s ${addrText(`${x.address}/${bitsOf(family)}`)} ${c} -j ${chain}`;
    if (!present.has(jump)) lines.push(jump);
  }
  for (const x of addrs) lines.push(`-A ${chain} -d ${addrText(x.subnet, 'subnet')} ${c} -j ACCEPT`);
  lines.push(`-A ${chain} ! -d ${multicast} ${c} -j MASQUERADE`, 'COMMIT', '');
  return lines.join('\n');
}

/**
 * iptables-restore text removing what renderMasqSetup made for `addrs`, without reading the
 * table: the exact jumps, then the chain. It fails as a whole when anything differs (a jump or
 * the chain missing, a second jump left), and teardown then reads and removes what is there.
 */
export function renderMasqTeardown(a: Attachment, addrs: readonly MasqAddress[], family: Family): string {
  const chain = chainName(a.networkName, a.containerId);
  const c = JSON.stringify(ruleComment(a.networkName, a.containerId));
  const lines = ['*nat'];
  for (const x of addrs)
    lines.push(`-D POSTROUTING -s ${x.address}/${bitsOf(family)} -m comment --comment ${c} -j ${chain}`);
  lines.push(`-F ${chain}`, `-X ${chain}`, 'COMMIT', '');
  return lines.join('\n');
}

/** POSTROUTING jumps of `net`'s containers whose ID is not kept: their chains. */
export function staleMasqChains(save: string, networkName: string, keptIds: ReadonlySet<string>): Set<string> {
  const stale = new Set<string>();
  const re = /^-A POSTROUTING .*--comment "name: \\"([^"\\]*)\\" id: \\"([^"\\]*)\\"" -j (CNI-[0-9a-f]{24})\s*$/;
  for (const line of save.split('\n')) {
    const m = re.exec(line);
    if (
      m?.[2] !== undefined &&
      m[3] &&
      m[1] === networkName &&
      !keptIds.has(m[2]) &&
      m[3] === chainName(networkName, m[2])
    )
      stale.add(m[3]);
  }
  return stale;
}

/**
 * One family's masquerade judged from its nat table. Broken only when what setup finds by name
 * is not there (the container's chain, a rule in it, a POSTROUTING jump to it); a rule that reads
 * differently from what we render is unsure, since check compares as the kernel does (`-C`).
 */
export function masqFinding(nat: IndexedTable, a: Attachment, addrs: readonly MasqAddress[], family: Family): Finding {
  const chain = chainName(a.networkName, a.containerId);
  const table = `${family === 6 ? 'ip6tables' : 'iptables'} table nat`;
  const missing = (what: string): Finding =>
    brokenBy(new CniError(ErrorCode.Internal, `masquerade rule not found in ${table}`, what));
  if (!nat.chains.has(chain)) return missing(`chain ${chain}`);
  if (nat.rulesOf(chain).length === 0) return missing(`the rules of chain ${chain}`);
  if (!nat.rulesOf('POSTROUTING').some((r) => r.endsWith(` -j ${chain}`))) return missing(`a jump to ${chain}`);
  const differs = renderMasqSetup(a, addrs, family)
    .split('\n')
    .find((l) => l.startsWith('-A ') && !nat.ruleSet.has(l));
  return differs === undefined ? INTACT : unsure(`not listed as rendered: ${differs}`);
}

export class IptablesMasquerade implements Masquerade {
  constructor(private readonly runner: Runner) {}

  async setup(a: Attachment, addrs: readonly MasqAddress[]): Promise<void> {
    await concurrently(
      ...FAMILIES.map(async (family) => {
        const mine = addrs.filter((x) => familyOfText(x.address) === family);
        if (mine.length === 0) return;
        // One process where the chain is new (every first ADD): `-N` makes the restore fail
        // when it exists, and nothing is changed then.
        const created = await restore(this.runner, family, renderMasqSetup(a, mine, family, '', true)).then(
          () => true,
          () => false,
        );
        if (created) return;
        // Read first, as the reference's AppendUnique does: a repeated setup (a retried ADD,
        // tscni reload) must not add a second jump.
        const postrouting = await listChains(this.runner, family, 'nat', ['POSTROUTING']);
        await restore(this.runner, family, renderMasqSetup(a, mine, family, postrouting));
      }),
    );
  }

  /** setup's read-then-write path, rendered from the batch's model of each nat table. */
  async stage(batch: RestoreBatch, a: Attachment, addrs: readonly MasqAddress[]): Promise<void> {
    await batch.iptables(
      FAMILIES.flatMap((family) => {
        const mine = addrs.filter((x) => familyOfText(x.address) === family);
        if (mine.length === 0) return [];
        return [{ family, table: 'nat' as const, render: (nat: string) => renderMasqSetup(a, mine, family, nat) }];
      }),
    );
  }

  async teardown(a: Attachment, expected?: readonly MasqAddress[]): Promise<void> {
    const chains = new Set([chainName(a.networkName, a.containerId)]);
    await concurrently(
      ...FAMILIES.map(async (family) => {
        // With the addresses setup was given (DEL's prevResult), a family without any has no
        // rules, and the rules of one with addresses go in one restore without a read.
        const mine = expected?.filter((x) => familyOfText(x.address) === family);
        if (mine && mine.length === 0) return;
        if (mine) {
          const removed = await restore(this.runner, family, renderMasqTeardown(a, mine, family)).then(
            () => true,
            () => false,
          );
          if (removed) return;
        }
        // Only POSTROUTING (where the jumps are) and the container's chain are read.
        const current = await listChains(this.runner, family, 'nat', ['POSTROUTING', ...chains]);
        await restore(this.runner, family, renderChainRemoval('nat', current, chains));
      }),
    );
  }

  async check(a: Attachment, addrs: readonly MasqAddress[]): Promise<void> {
    // Both families at once; each is one iptables-restore of `-C` lines (the jumps and the chain).
    const checkFamily = async (family: Family): Promise<void> => {
      const mine = addrs.filter((x) => familyOfText(x.address) === family);
      if (mine.length === 0) return;
      const rules = renderMasqSetup(a, mine, family).split('\n');
      const missing = await firstMissingRule(this.runner, family, 'nat', rules);
      if (missing !== undefined)
        throw new CniError(
          ErrorCode.Internal,
          `masquerade rule not found in ${family === 6 ? 'ip6tables' : 'iptables'} table nat`,
          missing,
        );
    };
    await concurrently(checkFamily(4), checkFamily(6));
  }

  async inspect(a: Attachment, addrs: readonly MasqAddress[], snap: RulesetSnapshot): Promise<Finding> {
    const findings: Finding[] = [];
    for (const family of FAMILIES) {
      const mine = addrs.filter((x) => familyOfText(x.address) === family);
      if (mine.length === 0) continue;
      const nat = await snap.iptables(family, 'nat');
      findings.push(
        nat ? masqFinding(nat, a, mine, family) : unsure(`${family === 6 ? 'ip6' : 'ip'}tables-save failed`),
      );
    }
    return combine(findings);
  }

  async gc(networkName: string, keep: ReadonlySet<string>): Promise<void> {
    // iptables rules carry no ifname: a container is kept if any of its attachments is.
    const keptIds = new Set([...keep].map(containerIdOfKey));
    for (const family of FAMILIES) {
      const save = await saveTable(this.runner, family, 'nat');
      const stale = staleMasqChains(save, networkName, keptIds);
      if (stale.size > 0) await restore(this.runner, family, renderChainRemoval('nat', save, stale));
    }
  }
}
