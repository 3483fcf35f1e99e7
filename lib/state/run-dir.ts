/**
 * tscni's run directory: `TSCNI_RUN_DIR` or /run/tscni (a tmpfs, so what is in it goes with a
 * reboot, as do the rules and the containers). It holds the teardown marks (marks.ts) and the
 * lock files of port forwarding and `tscni reload`.
 */
import { isAbsolute } from 'node:path';
import type { Env } from '../cni/io';

export const RUN_DIR_ENV = 'TSCNI_RUN_DIR';
export const DEFAULT_RUN_DIR = '/run/tscni';

/** The run directory from the environment; an unusable value falls back to the default. */
export function runDirOf(env: Env): string {
  const v = env[RUN_DIR_ENV];
  if (v && isAbsolute(v) && !v.includes('\0') && !v.split('/').includes('..')) return v;
  return DEFAULT_RUN_DIR;
}
