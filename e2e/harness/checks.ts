/** The checks every e2e scenario makes: inside the container, through its host port, and after removal. */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeSandbox, UPLINK } from './sandbox';

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}
/** Runs argv inside the container (each runtime has its own way: ip netns exec, ctr task exec, podman exec, CRI ExecSync). */
export type InContainer = (argv: string[]) => Promise<CmdResult>;

/** A random token the container's HTTP server returns: a DNAT to nowhere cannot produce it. */
export const newToken = (): string => `tscni-e2e-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;

/** Shell for a busybox container: serves `token` on port 80 over HTTP. */
export const httpServerScript = (token: string, port = 80): string =>
  `mkdir -p /www && echo ${token} > /www/index.html && exec httpd -f -p ${port} -h /www`;

/** Address on eth0, default route via the gateway, the gateway answers a ping (IPv4 or IPv6, by `ip`). */
export async function checkInside(inside: InContainer, ip: string, gateway: string): Promise<void> {
  const fam = ip.includes(':') ? '-6' : '-4';
  const addr = await inside(['ip', fam, '-o', 'addr', 'show', 'dev', 'eth0']);
  if (!addr.stdout.includes(` ${ip}/`)) {
    throw new Error(`container eth0 does not have ${ip}: ${addr.stdout}${addr.stderr}`);
  }
  const route = await inside(['ip', fam, 'route', 'show', 'default']);
  if (!route.stdout.includes(`via ${gateway}`)) {
    throw new Error(`container has no default route via ${gateway}: '${route.stdout.trim()}' ${route.stderr}`);
  }
  // A new IPv6 gateway address is tentative for about a second (DAD on the bridge): retry a few times.
  let ping: CmdResult = { code: -1, stdout: '', stderr: '' };
  for (let i = 0; i < 5 && ping.code !== 0; i++) ping = await inside(['ping', fam, '-c', '1', '-W', '2', gateway]);
  if (ping.code !== 0) throw new Error(`container cannot ping its gateway ${gateway}: ${ping.stdout}${ping.stderr}`);
}

/**
 * HTTP GET from the sandbox host with busybox wget (no other client is assumed). Not `wget -T`:
 * Debian 12's busybox-static segfaults with it; coreutils' timeout bounds the call instead.
 */
export async function httpGet(sb: RuntimeSandbox, url: string): Promise<CmdResult> {
  return sb.exec(['timeout', '-s', 'KILL', '4', 'busybox', 'wget', '-q', '-O', '-', url], { timeoutMs: 10_000 });
}

/**
 * Shell for a busybox container: GET `url`, the body on stdout. Bounded by busybox's `timeout`,
 * never `wget -T`, which makes Debian 12's busybox-static segfault (an empty answer that looks
 * like a blocked connection).
 */
export const fetchScript = (url: string, seconds = 4): string => `timeout -s KILL ${seconds} wget -q -O - ${url}`;

/** Polls `url` until it answers with `token` (the server may still be starting). */
export async function expectHttpToken(
  sb: RuntimeSandbox,
  url: string,
  token: string,
  timeoutMs = 60_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: CmdResult = { code: -1, stdout: '', stderr: '' };
  while (Date.now() < end) {
    last = await httpGet(sb, url);
    if (last.code === 0 && last.stdout.trim() === token) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `GET ${url} did not return the container's token ${token}: rc=${last.code} '${last.stdout.trim()}' ${last.stderr.trim()}`,
  );
}

/** The URLs of a host port: the uplink address and localhost (and the uplink's IPv6 address with `ipv6`). */
export const hostPortUrls = (hostPort: number, ipv6 = false): string[] => [
  `http://${UPLINK.hostIp}:${hostPort}/`,
  `http://127.0.0.1:${hostPort}/`,
  ...(ipv6 ? [`http://[${UPLINK.hostIp6}]:${hostPort}/`] : []),
];

/** The URL of a container's own address. */
export const directUrl = (ip: string): string => (ip.includes(':') ? `http://[${ip}]/` : `http://${ip}/`);

export interface Traces {
  containerIds: string[];
  ips: string[];
}

const ipPattern = (ip: string): RegExp =>
  new RegExp(`(^|[^0-9a-fA-F.:])${ip.replace(/[.]/g, '\\.')}([^0-9a-fA-F.:]|$)`);

/**
 * What a container left in the sandbox after its removal: veths, netns files, lease files,
 * libcni cache entries, iptables rules or per-container chains, nftables elements. Empty when clean.
 */
export async function leftovers(sb: RuntimeSandbox, t: Traces): Promise<string[]> {
  const found: string[] = [];
  const mentions = (line: string): boolean =>
    t.containerIds.some((id) => id && line.includes(id)) || t.ips.some((ip) => ip && ipPattern(ip).test(line));

  const veths = await sb.exec(['ip', '-o', 'link', 'show', 'type', 'veth']);
  for (const line of veths.stdout.split('\n')) {
    const name = /^\d+:\s+([^@:]+)/.exec(line)?.[1];
    if (name && name !== UPLINK.hostIf) found.push(`veth ${name}`);
  }
  const netns = await sb.exec(['ls', '-1', '/run/netns']);
  for (const n of netns.stdout.split('\n')) if (n && n !== UPLINK.ns) found.push(`netns file /run/netns/${n}`);

  for (const save of ['iptables-save', 'ip6tables-save']) {
    const r = await sb.exec([save]);
    for (const line of r.stdout.split('\n')) {
      if (/^:CNI-(DN|SN)-[0-9a-f]+ /.test(line) || /^:CNI-[0-9a-f]{24} /.test(line))
        found.push(`${save}: chain ${line}`);
      else if (line.startsWith('-A') && mentions(line)) found.push(`${save}: ${line}`);
    }
  }
  const nft = await sb.exec(['nft', 'list', 'ruleset']);
  for (const line of nft.stdout.split('\n')) if (mentions(line)) found.push(`nft: ${line.trim()}`);

  // host-local leases (files named by address) and libcni's result cache, anywhere under /var/lib/cni.
  const cniDir = sb.hostPath('/var/lib/cni');
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) {
        walk(p);
        continue;
      }
      const rel = p.slice(cniDir.length);
      if (t.ips.includes(e)) found.push(`lease file /var/lib/cni${rel}`);
      else if (t.containerIds.some((id) => id && e.includes(id))) found.push(`cache file /var/lib/cni${rel}`);
      else if (/^\d+\.\d+\.\d+\.\d+$|:/.test(e)) found.push(`lease file /var/lib/cni${rel}`);
      else if (!e.startsWith('.') && t.containerIds.some((id) => id && readFileSync(p, 'utf8').includes(id))) {
        found.push(`file naming the container: /var/lib/cni${rel}`);
      }
    }
  };
  walk(cniDir);
  return found;
}
