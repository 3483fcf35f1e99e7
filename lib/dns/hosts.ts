/**
 * The resolver's hosts file (`addnhosts`), in the format containers/dnsname writes and dnsmasq
 * reads: one line per container address, `<ip>\t<name>[\t<alias>...]`. Ours end with a comment
 * naming the attachment, `\t# tscni <containerID> <ifname>`, which dnsmasq ignores and the
 * reference's DEL (which matches the second field, the name) does not mind; so each finds its own
 * lines and the other's. Every name was validated (isDnsName) before it gets here.
 */
import { formatIP, parseIP } from '../addr/ip';

export interface HostLine {
  readonly ip: string;
  readonly names: readonly string[];
  /** The attachment that owns the line; undefined for a line without our comment (the reference's). */
  readonly owner: { readonly containerId: string; readonly ifName: string } | undefined;
}

const MARK = '# tscni ';
// A name dnsmasq takes as a host name: letters, digits, '-', '_' in labels of at most 63, 253 in all.
const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const NAME_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
export const isDnsName = (s: string): boolean => s.length <= 253 && NAME_RE.test(s);

export function parseHosts(text: string): HostLine[] {
  const out: HostLine[] = [];
  for (const raw of text.split('\n')) {
    const hash = raw.indexOf('#');
    const body = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (body === '') continue;
    const [ip, ...names] = body.split(/\s+/);
    const addr = ip === undefined ? undefined : parseIP(ip);
    if (!addr || names.length === 0 || !names.every(isDnsName)) continue;
    let owner: HostLine['owner'];
    if (hash >= 0 && raw.slice(hash).startsWith(MARK)) {
      const [containerId, ifName] = raw
        .slice(hash + MARK.length)
        .trim()
        .split(/\s+/);
      if (containerId && ifName) owner = { containerId, ifName };
    }
    out.push({ ip: formatIP(addr), names, owner });
  }
  return out;
}

export function formatHosts(lines: readonly HostLine[]): string {
  return lines
    .map((l) => `${l.ip}\t${l.names.join('\t')}${l.owner ? `\t${MARK}${l.owner.containerId} ${l.owner.ifName}` : ''}\n`)
    .join('');
}

/** Whether a line belongs to the attachment: by our comment, or (a reference line) by its name. */
export const ownedBy = (l: HostLine, containerId: string, ifName: string, podName: string | undefined): boolean =>
  l.owner
    ? l.owner.containerId === containerId && l.owner.ifName === ifName
    : podName !== undefined && l.names[0] === podName;
