/**
 * The resolvers a network's resolver forwards to: the host's, from /etc/resolv.conf. A loopback
 * nameserver there (systemd-resolved's 127.0.0.53 stub, a local dnsmasq) is skipped, and when
 * nothing else is left the servers the stub itself uses are taken from
 * /run/systemd/resolve/resolv.conf, as container engines do for the containers' own resolv.conf.
 */
import { readFileBounded } from '../sys/safe-fs';
import { parseIP } from '../addr/ip';
import { parseResolvConf } from '../ipam/resolv';

export const HOST_RESOLV_CONF = '/etc/resolv.conf';
export const RESOLVED_RESOLV_CONF = '/run/systemd/resolve/resolv.conf';

const isLoopback = (ip: string): boolean => {
  const a = parseIP(ip.split('%')[0] ?? '');
  if (!a) return true; // unusable: skipped like a loopback one
  return a.family === 4 ? a.value >> 24n === 127n : a.value === 1n;
};

const read = (path: string): string => {
  try {
    // Bounded like host-local's resolvConf: a FIFO or /dev/zero at the host's file is no resolv.conf.
    return readFileBounded(path, 1 << 20).toString('utf8');
  } catch {
    return '';
  }
};

export function upstreamServers(readText: (path: string) => string = read): string[] {
  const all = parseResolvConf(readText(HOST_RESOLV_CONF)).nameservers ?? [];
  const usable = all.filter((ip) => !isLoopback(ip));
  if (usable.length > 0 || all.length === 0) return usable;
  return (parseResolvConf(readText(RESOLVED_RESOLV_CONF)).nameservers ?? []).filter((ip) => !isLoopback(ip));
}
