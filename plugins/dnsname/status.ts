/** dnsname STATUS: ready when dnsmasq, which serves each network's names, is installed. */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { loadDnsnameConfig } from './config';

export function findDnsmasq(path: string | undefined): string | undefined {
  for (const d of (path || '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (!d) continue;
    try {
      accessSync(join(d, 'dnsmasq'), constants.X_OK);
      return join(d, 'dnsmasq');
    } catch {
      /* next */
    }
  }
  return undefined;
}

export async function status(inv: Invocation): Promise<void> {
  loadDnsnameConfig(inv);
  if (!findDnsmasq(inv.env['PATH']))
    throw new CniError(
      ErrorCode.NotAvailable,
      'unable to locate dnsmasq in path',
      'install dnsmasq (Debian: dnsmasq-base)',
    );
}
