/** tuning STATUS: ready when the state directory (or the directory it will be made in) is writable. */
import { accessSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import type { Invocation } from '../../lib/cni/invocation';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { loadDataDir } from './config';

export async function status(inv: Invocation): Promise<void> {
  const dataDir = loadDataDir(inv.config);
  let dir = dataDir;
  for (;;) {
    try {
      accessSync(dir, constants.W_OK | constants.X_OK);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && dirname(dir) !== dir) {
        dir = dirname(dir);
        continue;
      }
      throw new CniError(
        ErrorCode.NotAvailable,
        `tuning state directory ${dataDir} is not writable`,
        `${dir}: ${code}`,
      );
    }
  }
}
