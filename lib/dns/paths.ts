/**
 * Where the dnsname plugin keeps a network's resolver state: the directory containers/dnsname
 * uses (`$XDG_RUNTIME_DIR/containers/cni/dnsname/<network>`, else
 * `/run/containers/cni/dnsname/<network>`), with its file names, so that either implementation
 * finds the other's dnsmasq. Our own file there, `tscni-gateway.json`, lists the addresses dnsname
 * put on the bridge of an internal network for its resolver; the firewall plugin reads it to tell
 * those from a gateway address (lib/net/internal.ts).
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Env } from '../cni/io';
import { parseCIDR, formatCIDR } from '../addr/ip';

export const CONF_FILE = 'dnsmasq.conf';
export const HOSTS_FILE = 'addnhosts';
export const PID_FILE = 'pidfile';
/** The file both implementations flock (containers/dnsname's lock helper locks `lock` in the directory). */
export const LOCK_FILE = 'lock';
export const GATEWAY_FILE = 'tscni-gateway.json';

export function dnsnameRoot(env: Env): string {
  const xdg = env['XDG_RUNTIME_DIR'];
  return xdg ? join(xdg, 'containers/cni/dnsname') : '/run/containers/cni/dnsname';
}

/** The network's directory (the network name was validated by the dispatcher: a plain file name). */
export const networkDir = (env: Env, network: string): string => join(dnsnameRoot(env), network);

/** Reads a regular file without following a symlink planted in its place; undefined when absent or not a file. */
export function readPlainFile(path: string, maxBytes = 1 << 20): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > maxBytes) return undefined;
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

export interface GatewayRecord {
  readonly bridge: string;
  /** CIDRs dnsname added to the bridge (canonical). */
  readonly addresses: readonly string[];
}

/** The addresses dnsname put on the network's bridge, from its record; none when there is no (valid) record. */
export function readGatewayRecord(dir: string): GatewayRecord | undefined {
  const text = readPlainFile(join(dir, GATEWAY_FILE));
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as { bridge?: unknown; addresses?: unknown };
    if (typeof v.bridge !== 'string' || !Array.isArray(v.addresses)) return undefined;
    const addresses: string[] = [];
    for (const a of v.addresses) {
      const c = typeof a === 'string' ? parseCIDR(a) : undefined;
      if (!c) return undefined;
      addresses.push(formatCIDR(c.addr, c.prefix));
    }
    return { bridge: v.bridge, addresses };
  } catch {
    return undefined;
  }
}
