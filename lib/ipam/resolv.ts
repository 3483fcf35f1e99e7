/** resolv.conf → result DNS, with the reference's line rules (host-local dns.go). */
import { readFileSync } from 'node:fs';
import type { DNS } from '../cni/result/types';

export function parseResolvConf(text: string): DNS {
  const dns: { nameservers: string[]; domain?: string; search: string[]; options: string[] } = {
    nameservers: [],
    search: [],
    options: [],
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const fields = line.split(/\s+/);
    if (fields.length < 2) continue;
    const [key, ...rest] = fields as [string, ...string[]];
    switch (key) {
      case 'nameserver':
        dns.nameservers.push(rest[0] as string);
        break;
      case 'domain':
        dns.domain = rest[0] as string;
        break;
      case 'search':
        dns.search.push(...rest);
        break;
      case 'options':
        dns.options.push(...rest);
        break;
    }
  }
  const out: DNS = {};
  if (dns.nameservers.length) out.nameservers = dns.nameservers;
  if (dns.domain !== undefined) out.domain = dns.domain;
  if (dns.search.length) out.search = dns.search;
  if (dns.options.length) out.options = dns.options;
  return out;
}

/** Reads and parses a resolv.conf; the error text mirrors Go's `open <path>: …`. */
export function readResolvConf(path: string): DNS {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT' ? 'no such file or directory' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new Error(`open ${path}: ${why}`);
  }
  return parseResolvConf(text);
}
