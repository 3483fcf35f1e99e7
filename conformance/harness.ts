/**
 * Black-box driving of a CNI plugin directory: env + stdin in, stdout + exit code out.
 * The directory comes from CNI_PATH (default: this repository's bin/), so the same suite runs
 * against ours and against the reference (`make conformance CNI_PATH=/usr/lib/cni`).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { run, type RunResult } from '../lib/testutil/sandbox';

export const PLUGIN_DIR = resolve(process.env['CNI_PATH']?.split(':')[0] || join(__dirname, '..', 'bin'));
export const ALL_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const PLUGINS = [
  'bridge',
  'host-local',
  'portmap',
  'loopback',
  'tuning',
  'macvlan',
  'ipvlan',
  'ptp',
  'dhcp',
  'static',
  'host-device',
  'sbr',
  'tap',
  'vlan',
  'vrf',
  'dummy',
  'bandwidth',
] as const;

export const pluginPath = (name: string): string => join(PLUGIN_DIR, name);
export const hasPlugin = (name: string): boolean => existsSync(pluginPath(name));

/** Runs a plugin directly (for cases that touch no network state) with exactly `env`. */
export function invoke(plugin: string, env: Record<string, string>, stdin: unknown = ''): Promise<RunResult> {
  const input = typeof stdin === 'string' ? stdin : JSON.stringify(stdin);
  return run([pluginPath(plugin)], { input, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env } });
}

/** Exactly one JSON document on stdout (no log lines, no second object). */
export function oneJsonDocument(stdout: string): boolean {
  try {
    JSON.parse(stdout);
    return true;
  } catch {
    return false;
  }
}

export interface CniErrorJson {
  code: number;
  msg: string;
  details?: string;
}
export const errorOf = (r: RunResult): CniErrorJson => r.json as CniErrorJson;
