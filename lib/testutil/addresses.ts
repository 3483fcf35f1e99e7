/** What addresses a namespace of the sandbox holds, read back with `ip -j` (test-only module). */
import type { Sandbox } from './sandbox';

type IpAddrShow = Array<{ addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>;

/** The global-scope addresses of `dev` in `where`, as CIDRs; none when the link does not exist. */
export async function globalAddrs(sb: Sandbox, where: string, dev: string): Promise<string[]> {
  const r = await sb.exec(where, ['ip', '-j', 'addr', 'show', 'dev', dev]);
  if (r.code !== 0) return [];
  const info = (r.json as IpAddrShow)[0];
  return (info?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
}
