/** Which container addresses portmap forwards to: as the reference picks them from prevResult. */
import type { Result } from '../../lib/cni/result/types';
import type { ContainerAddress } from '../../lib/firewall/driver';
import { parseCIDR, formatIP } from '../../lib/addr/ip';

export type ContainerIP = ContainerAddress;

/** The first IPv4 and first IPv6 address on the interface named ifName in a sandbox (or unattached). */
export function containerIPs(prev: Result, ifName: string): ContainerIP[] {
  const ifaces = prev.interfaces ?? [];
  const out: ContainerIP[] = [];
  for (const ip of prev.ips ?? []) {
    if (ip.interface !== undefined) {
      const i = ifaces[ip.interface];
      if (i && !(i.name === ifName && i.sandbox)) continue;
    }
    const c = parseCIDR(ip.address);
    if (!c) continue;
    const family = c.addr.family;
    if (out.some((o) => o.family === family)) continue;
    out.push({ address: formatIP(c.addr), prefix: c.prefix, family });
  }
  return out;
}
