/** Reading the live state bridge needs: the bridge itself and a container interface. */
import { ipJson } from '../../lib/net/ip';

export interface LinkState {
  readonly name: string;
  readonly mac: string;
  readonly kind: string;
  readonly master: string | undefined;
  /** Interface flags as iproute2 prints them (UP, PROMISC, …). */
  readonly flags: readonly string[];
  readonly addrs: ReadonlyArray<{ family: 4 | 6; local: string; prefixlen: number }>;
}

/** `ip -j -d addr show dev <name>` in this namespace or in `netns`; undefined if the link is missing. */
export async function readLink(name: string, netns?: string): Promise<LinkState | undefined> {
  const rows = await ipJson(['-d', 'addr', 'show', 'dev', name], netns);
  const row = rows?.[0];
  if (!row) return undefined;
  const info = row['linkinfo'] as { info_kind?: string } | undefined;
  const addrInfo =
    (row['addr_info'] as Array<{ family?: string; local?: string; prefixlen?: number }> | undefined) ?? [];
  return {
    name,
    mac: String(row['address'] ?? ''),
    kind: info?.info_kind ?? '',
    master: typeof row['master'] === 'string' ? row['master'] : undefined,
    flags: Array.isArray(row['flags']) ? row['flags'].map(String) : [],
    addrs: addrInfo
      .filter((a) => (a.family === 'inet' || a.family === 'inet6') && a.local)
      .map((a) => ({ family: a.family === 'inet' ? 4 : 6, local: a.local ?? '', prefixlen: a.prefixlen ?? 0 })),
  };
}
