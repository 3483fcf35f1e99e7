/** resolv.conf → result DNS, with the reference's line rules (host-local dns.go). */
import { readFileBounded, UnsafePathError } from '../sys/safe-fs';
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

/** More than any resolv.conf holds (glibc reads only its first few name servers anyway). */
export const MAX_RESOLV_CONF = 1024 * 1024;

/**
 * Reads and parses a resolv.conf; the error text mirrors Go's `open <path>: …`. The config names
 * the file, so it is read bounded: a regular file of at most 1 MiB (`/dev/zero` or a FIFO fail
 * at once; the reference reads /dev/zero until its 64 KiB line limit).
 */
export function readResolvConf(path: string): DNS {
  let text: string;
  try {
    text = readFileBounded(path, MAX_RESOLV_CONF).toString('utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      e instanceof UnsafePathError
        ? e.why
        : err.code === 'ENOENT'
          ? 'no such file or directory'
          : err.code === 'EACCES'
            ? 'permission denied'
            : err.message;
    throw new Error(`open ${path}: ${why}`);
  }
  return parseResolvConf(text);
}
