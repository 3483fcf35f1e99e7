/**
 * IP masquerade for containers (bridge `ipMasq`), with the reference's names so that rules made
 * by either implementation are found by the other:
 *  - iptables: a chain `CNI-<hash(net+id)>` per container in table nat, jumped to from POSTROUTING
 *    by source address, comment `name: "<net>" id: "<cid>"`;
 *  - nftables: table `inet cni_plugins_masquerade`, one rule per address in chain `masq_checks`
 *    whose comment starts with a hash of (net, ifname, id).
 * Each setup or teardown is one transaction. Teardown finds rules by network name and container
 * ID, never by addresses, so it also works after the container's interface or netns is gone.
 */
import { defaultRunner } from '../exec/real';
import { listNatChains, restoreNat, saveNat } from './iptables';
import { concurrently } from '../undo';
import { chainName, nftMasqHash, ruleComment } from './names';
import { defaultBackend, withBackend, type Backend } from './backend';

export interface MasqTarget {
  readonly networkName: string;
  readonly containerId: string;
  readonly ifName: string;
}
/** A container address with its subnet, e.g. { address: '10.1.0.5', subnet: '10.1.0.0/24' }. */
export interface MasqAddress {
  readonly address: string;
  readonly subnet: string;
}

const isV6 = (a: string): boolean => a.includes(':');
const NFT_TABLE = 'cni_plugins_masquerade';

// ---- iptables ----

/** iptables-restore text that (re)creates the container's chain and its POSTROUTING jumps. */
export function renderIptablesSetup(t: MasqTarget, addrs: readonly MasqAddress[], six: boolean): string {
  const chain = chainName(t.networkName, t.containerId);
  const c = JSON.stringify(ruleComment(t.networkName, t.containerId));
  const multicast = six ? 'ff00::/8' : '224.0.0.0/4';
  const lines = ['*nat', `:${chain} - [0:0]`];
  for (const a of addrs)
    lines.push(`-A POSTROUTING -s ${a.address}/${six ? 128 : 32} -m comment --comment ${c} -j ${chain}`);
  for (const a of addrs) lines.push(`-A ${chain} -d ${a.subnet} -m comment --comment ${c} -j ACCEPT`);
  lines.push(`-A ${chain} ! -d ${multicast} -m comment --comment ${c} -j MASQUERADE`, 'COMMIT', '');
  return lines.join('\n');
}

/**
 * iptables-restore text removing the given chains and every rule that jumps to them, from an
 * `iptables-save -t nat` dump. Empty when none of the chains exist.
 */
export function renderIptablesTeardown(save: string, chains: ReadonlySet<string>): string {
  const present = new Set<string>();
  const dels: string[] = [];
  for (const line of save.split('\n')) {
    const decl = /^:(\S+) /.exec(line);
    if (decl?.[1] && chains.has(decl[1])) present.add(decl[1]);
    const jump = /^-A (\S+) (.*)-j (\S+)\s*$/.exec(line);
    if (jump?.[3] && chains.has(jump[3]) && !chains.has(jump[1] ?? ''))
      dels.push(`-D ${jump[1]} ${jump[2]}-j ${jump[3]}`);
  }
  if (present.size === 0) return '';
  const out = ['*nat', ...dels];
  for (const ch of present) out.push(`-F ${ch}`);
  for (const ch of present) out.push(`-X ${ch}`);
  out.push('COMMIT', '');
  return out.join('\n');
}

// ---- nftables ----

function nftComment(t: MasqTarget): string {
  const clean = (s: string): string => s.replace(/"/g, '');
  return `${nftMasqHash(t.networkName, t.ifName, t.containerId)}, net: ${clean(t.networkName)}, if: ${clean(t.ifName)}, id: ${clean(t.containerId)}`.slice(
    0,
    128,
  );
}

export function renderNftSetup(t: MasqTarget, addrs: readonly MasqAddress[], staleHandles: readonly number[]): string {
  const tb = `inet ${NFT_TABLE}`;
  const lines = [
    `add table ${tb} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
    `add chain ${tb} masq_checks { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
    `add chain ${tb} postrouting { type nat hook postrouting priority 100 ; }`,
    `flush chain ${tb} postrouting`,
    `add rule ${tb} postrouting ip daddr == 224.0.0.0/4 return`,
    `add rule ${tb} postrouting ip6 daddr == ff00::/8 return`,
    `add rule ${tb} postrouting goto masq_checks`,
  ];
  for (const h of staleHandles) lines.push(`delete rule ${tb} masq_checks handle ${h}`);
  const comment = nftComment(t);
  for (const a of addrs) {
    const fam = isV6(a.address) ? 'ip6' : 'ip';
    lines.push(
      `add rule ${tb} masq_checks ${fam} saddr == ${a.address} ${fam} daddr != ${a.subnet} masquerade comment "${comment}"`,
    );
  }
  return lines.join('\n') + '\n';
}

interface NftRule {
  readonly handle: number;
  readonly comment: string;
}

/** Rules of masq_checks with their comments; empty when the table does not exist. */
async function nftRules(): Promise<NftRule[]> {
  const res = await defaultRunner().run({
    tool: 'nft',
    argv: ['-a', 'list', 'chain', 'inet', NFT_TABLE, 'masq_checks'],
    allowFailure: true,
  });
  if (res.exitCode !== 0) return [];
  const rules: NftRule[] = [];
  for (const line of res.stdout.split('\n')) {
    const m = /comment "([^"]*)".*# handle (\d+)/.exec(line);
    if (m?.[1] !== undefined && m[2]) rules.push({ comment: m[1], handle: Number(m[2]) });
  }
  return rules;
}

async function nftApply(text: string): Promise<void> {
  await defaultRunner().run({ tool: 'nft', argv: ['-f', '-'], input: text });
}

// ---- public API ----

export async function setupMasq(backend: Backend, t: MasqTarget, addrs: readonly MasqAddress[]): Promise<void> {
  if (addrs.length === 0) return;
  if (backend === 'iptables') {
    await concurrently(
      ...[false, true].map(async (six) => {
        const mine = addrs.filter((a) => isV6(a.address) === six);
        if (mine.length > 0) await restoreNat(six, renderIptablesSetup(t, mine, six));
      }),
    );
    return;
  }
  const prefix = nftMasqHash(t.networkName, t.ifName, t.containerId);
  const stale = (await nftRules()).filter((r) => r.comment.startsWith(prefix)).map((r) => r.handle);
  await nftApply(renderNftSetup(t, addrs, stale));
}

/**
 * iptables teardown of both families; false when iptables could not even list POSTROUTING
 * (not usable here), which is the only case where the default backend may be nftables.
 */
async function teardownIptablesMasq(t: MasqTarget): Promise<boolean> {
  const chains = new Set([chainName(t.networkName, t.containerId)]);
  // Only POSTROUTING (where the jumps are) and the container's chain are read.
  const family = async (six: boolean): Promise<boolean> => {
    const current = await listNatChains(six, ['POSTROUTING', ...chains]);
    await restoreNat(six, renderIptablesTeardown(current, chains));
    return /^:POSTROUTING /m.test(current);
  };
  const [answered] = await concurrently(family(false), family(true));
  return answered;
}

/** Sets up masquerading with the configured backend, or the reference's default (see withBackend). */
export function setupMasqWith(
  configured: Backend | undefined,
  t: MasqTarget,
  addrs: readonly MasqAddress[],
): Promise<void> {
  return withBackend(
    configured,
    (b) => setupMasq(b, t, addrs),
    () => teardownIptablesMasq(t),
  );
}

/**
 * Removes the container's rules from the configured backend or, with none configured, from
 * the default one: iptables answering the teardown's own read stands for the probe.
 */
export async function teardownMasqWith(configured: Backend | undefined, t: MasqTarget): Promise<void> {
  if (configured) return teardownMasq(configured, t);
  if (!(await teardownIptablesMasq(t)) && (await defaultBackend()) === 'nftables') await teardownMasq('nftables', t);
}

/** Removes the container's masquerade rules (both families); missing rules are fine. */
export async function teardownMasq(backend: Backend, t: MasqTarget): Promise<void> {
  if (backend === 'iptables') {
    await teardownIptablesMasq(t);
    return;
  }
  const prefix = nftMasqHash(t.networkName, t.ifName, t.containerId);
  const handles = (await nftRules()).filter((r) => r.comment.startsWith(prefix)).map((r) => r.handle);
  if (handles.length > 0)
    await nftApply(handles.map((h) => `delete rule inet ${NFT_TABLE} masq_checks handle ${h}`).join('\n') + '\n');
}

/**
 * GC: removes masquerade rules of this network whose attachment is not in `keep`
 * (a set of `<containerID>\0<ifname>` keys; iptables rules carry no ifname, so a container
 * is kept there if any of its attachments is kept).
 */
export async function gcMasq(backend: Backend, networkName: string, keep: ReadonlySet<string>): Promise<void> {
  const keptIds = new Set([...keep].map((k) => k.split('\u0000')[0]));
  if (backend === 'iptables') {
    for (const six of [false, true]) {
      const save = await saveNat(six);
      const stale = new Set<string>();
      const re = /^-A POSTROUTING .*--comment "name: \\"([^"\\]*)\\" id: \\"([^"\\]*)\\"" -j (CNI-[0-9a-f]{24})\s*$/;
      for (const line of save.split('\n')) {
        const m = re.exec(line);
        if (m && m[1] === networkName && !keptIds.has(m[2]) && m[3] === chainName(networkName, m[2] ?? ''))
          stale.add(m[3]);
      }
      if (stale.size > 0) await restoreNat(six, renderIptablesTeardown(save, stale));
    }
    return;
  }
  const handles: number[] = [];
  for (const r of await nftRules()) {
    const m = /, net: (.*), if: (.*), id: (.*)$/.exec(r.comment);
    if (m && m[1] === networkName && !keep.has(`${m[3]}\u0000${m[2]}`)) handles.push(r.handle);
  }
  if (handles.length > 0)
    await nftApply(handles.map((h) => `delete rule inet ${NFT_TABLE} masq_checks handle ${h}`).join('\n') + '\n');
}
