/**
 * The node's masquerade (mode `nft`), kindnetd's semantics: traffic from this node's pods to
 * anything outside the cluster CIDRs leaves with the node's address; pod-to-pod traffic, also
 * across nodes, keeps the pod address. One nftables table, `inet tscni_masq`, replaced in one
 * transaction; its comment carries a hash of the rules, so an unchanged table is not rewritten.
 */
import { ExecError, type Runner } from '../exec/runner';
import { familyOfText, parseCIDR, type Cidr } from '../addr/ip';
import { sha256hex } from '../sys/hash';
import type { Outcome } from './files';

export const MASQ_TABLE = 'tscni_masq';

/** Drops CIDRs inside another one of the list (nft interval sets refuse overlaps); input canonical. */
export function outermost(cidrs: readonly string[]): string[] {
  const parsed = [...new Set(cidrs)].flatMap((text) => {
    const c = parseCIDR(text);
    return c ? [{ text, c }] : [];
  });
  const inside = (a: Cidr, b: Cidr): boolean => {
    if (a.addr.family !== b.addr.family || b.prefix > a.prefix) return false;
    const bits = BigInt((a.addr.family === 4 ? 32 : 128) - b.prefix);
    return a.addr.value >> bits === b.addr.value >> bits;
  };
  return parsed
    .filter((a) => !parsed.some((b) => b.text !== a.text && inside(a.c, b.c)))
    .map((a) => a.text)
    .sort();
}

/** The rules without the replace preamble; hashed into the table comment. */
function body(podCidrs: readonly string[], clusterCidrs: readonly string[]): string[] {
  const lines: string[] = [];
  const families = [
    { v: 4, ip: 'ip', type: 'ipv4_addr', multicast: '224.0.0.0/4' },
    { v: 6, ip: 'ip6', type: 'ipv6_addr', multicast: 'ff00::/8' },
  ] as const;
  const rules: string[] = [];
  for (const f of families) {
    const of = (list: readonly string[]): string[] => list.filter((c) => familyOfText(c) === f.v);
    const pods = outermost(of(podCidrs));
    const cluster = outermost(of(clusterCidrs));
    if (pods.length === 0) continue;
    const set = `cluster${f.v}`;
    if (cluster.length > 0)
      lines.push(`  set ${set} { type ${f.type}; flags interval; elements = { ${cluster.join(', ')} } }`);
    const notCluster = cluster.length > 0 ? ` ${f.ip} daddr != @${set}` : '';
    rules.push(
      `    ${f.ip} saddr { ${pods.join(', ')} }${notCluster} ${f.ip} daddr != ${f.multicast} masquerade comment "pod to outside"`,
    );
  }
  lines.push('  chain postrouting {', '    type nat hook postrouting priority 100; policy accept;', ...rules, '  }');
  return lines;
}

/** An `nft -f` script that replaces the table atomically (create-if-missing, delete, define). */
export function renderMasq(
  podCidrs: readonly string[],
  clusterCidrs: readonly string[],
): { script: string; hash: string } {
  const lines = body(podCidrs, clusterCidrs);
  const hash = sha256hex(lines.join('\n')).slice(0, 16);
  const script = [
    `table inet ${MASQ_TABLE} {}`,
    `delete table inet ${MASQ_TABLE}`,
    `table inet ${MASQ_TABLE} {`,
    `  comment "tscni install ${hash}"`,
    ...lines,
    '}',
    '',
  ].join('\n');
  return { script, hash };
}

/** The hash in the installed table's comment; '' when the table is missing. */
async function installedHash(runner: Runner): Promise<string | undefined> {
  const r = await runner.run({ tool: 'nft', argv: ['list', 'table', 'inet', MASQ_TABLE], allowFailure: true });
  if (r.exitCode !== 0) return undefined;
  return /comment "tscni install ([0-9a-f]+)"/.exec(r.stdout)?.[1] ?? '';
}

/** Installs the table unless the same rules are there. */
export async function applyMasq(
  runner: Runner,
  podCidrs: readonly string[],
  clusterCidrs: readonly string[],
): Promise<Outcome> {
  const { script, hash } = renderMasq(podCidrs, clusterCidrs);
  const have = await installedHash(runner);
  if (have === hash) return 'unchanged';
  await runner.run({ tool: 'nft', argv: ['-f', '-'], input: script });
  return have === undefined ? 'created' : 'updated';
}

/**
 * Removes the table (another masquerade mode was chosen); true when there was one. Without an
 * `nft` program there can be no table of ours either.
 */
export async function removeMasq(runner: Runner): Promise<boolean> {
  let have: string | undefined;
  try {
    have = await installedHash(runner);
  } catch (e) {
    if (e instanceof ExecError && e.exitCode === null) return false;
    throw e;
  }
  if (have === undefined) return false;
  await runner.run({ tool: 'nft', argv: ['delete', 'table', 'inet', MASQ_TABLE] });
  return true;
}
