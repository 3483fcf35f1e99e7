/**
 * Delegation to another plugin (IPAM), as the spec's §4 and libcni's invoke package do it:
 * find `<dir>/<type>` in CNI_PATH, run it with the same stdin bytes and environment but another
 * CNI_COMMAND, and pass its typed error through unchanged.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultRunner } from '../exec/real';
import type { Runner } from '../exec/runner';
import { warn } from '../log';
import type { Invocation } from './invocation';
import type { PluginFuncs } from './plugin';
import type { Verb } from './env';
import { CniError, ErrorCode, foreignCode, toCniError } from './errors';
import { parseResult } from './result/decode';
import { toWire } from './result/encode';
import type { Result } from './result/types';

export function findInPath(pluginType: string, paths: readonly string[]): string {
  if (pluginType === '') throw new CniError(ErrorCode.Internal, 'no plugin name provided');
  if (pluginType.includes('/') || pluginType === '.' || pluginType === '..') {
    throw new CniError(ErrorCode.Internal, `invalid plugin name: ${pluginType}`);
  }
  if (paths.length === 0) throw new CniError(ErrorCode.Internal, 'no paths provided');
  for (const dir of paths) {
    const full = join(dir, pluginType);
    try {
      if (statSync(full).isFile()) return full;
    } catch {
      // not in this directory
    }
  }
  throw new CniError(ErrorCode.Internal, `failed to find plugin "${pluginType}" in path [${paths.join(' ')}]`);
}

/**
 * IPAM plugins that talk to the network through the container's interface (the reference's
 * dhcp): an interface plugin runs their ADD once that interface exists and their DEL before it
 * deletes it (so a DHCPRELEASE can still go out).
 */
export const ipamUsesInterface = (pluginType: string): boolean => pluginType === 'dhcp';

export interface DelegateOptions {
  /** Replaces the stdin bytes (e.g. a config with keys added); defaults to the invocation's. */
  readonly stdin?: Buffer | string;
  readonly runner?: Runner;
}

/**
 * True when `path` is this very executable (the same file, or a link to it): then the delegate
 * is one of our own plugins and runs in this process, with the same config and environment,
 * instead of costing a second process start. Any other binary, e.g. the reference host-local,
 * is executed as the spec describes. Under Node.js (unit tests) the executable is `node`, which
 * is never a plugin.
 */
export function isThisExecutable(path: string): boolean {
  try {
    const a = statSync(path);
    const b = statSync(process.execPath);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

async function runInProcess(funcs: PluginFuncs, verb: Verb, inv: Invocation): Promise<Result | undefined> {
  const sub: Invocation = { ...inv, command: verb, env: { ...inv.env, CNI_COMMAND: verb } };
  switch (verb) {
    case 'ADD': {
      const r = await funcs.add?.(sub);
      // The same round trip through the config's version that an exec'd delegate's output takes.
      return r ? parseResult(toWire(r, inv.cniVersion), inv.cniVersion) : undefined;
    }
    case 'DEL':
      await funcs.del?.(sub);
      return undefined;
    case 'CHECK':
      await funcs.check?.(sub);
      return undefined;
    case 'GC':
      await funcs.gc?.(sub);
      return undefined;
    case 'STATUS':
      await funcs.status?.(sub);
      return undefined;
    case 'VERSION':
      return undefined;
  }
}

/** Runs `verb` on the delegate `pluginType`; ADD returns the delegate's result. */
export async function delegate(
  verb: Verb,
  pluginType: string,
  inv: Invocation,
  opts: DelegateOptions = {},
): Promise<Result | undefined> {
  const path = findInPath(pluginType, inv.cniPath);
  const local = opts.stdin === undefined ? inv.plugins?.(pluginType) : undefined;
  if (local && isThisExecutable(path)) {
    try {
      return await runInProcess(await local.load(), verb, inv);
    } catch (e) {
      throw toCniError(e);
    }
  }
  const env: NodeJS.ProcessEnv = { ...inv.env, CNI_COMMAND: verb };
  const res = await (opts.runner ?? defaultRunner()).run({
    tool: 'plugin',
    path,
    argv: [],
    input: opts.stdin ?? inv.stdin,
    env,
    allowFailure: true,
    timeoutMs: 120_000,
  });
  if (res.stderr) warn(`${pluginType}: ${res.stderr.trimEnd()}`);
  if (res.exitCode !== 0) throw delegateError(pluginType, res.stdout, res.stderr, res.exitCode);
  if (verb !== 'ADD') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(res.stdout);
  } catch (e) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      `failed to decode result of plugin ${pluginType}`,
      (e as Error).message,
    );
  }
  return parseResult(json, inv.cniVersion, `result of plugin ${pluginType}`);
}

function delegateError(pluginType: string, stdout: string, stderr: string, exitCode: number): CniError {
  if (stdout.trim() === '') {
    return new CniError(
      ErrorCode.Internal,
      `plugin ${pluginType} failed (exit ${exitCode})${stderr.trim() ? `: ${stderr.trim()}` : ' with no error message'}`,
    );
  }
  try {
    const e = JSON.parse(stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    const code = typeof e.code === 'number' ? foreignCode(e.code) : ErrorCode.Internal;
    return new CniError(
      code,
      typeof e.msg === 'string' ? e.msg : `plugin ${pluginType} failed`,
      typeof e.details === 'string' && e.details ? e.details : undefined,
    );
  } catch {
    return new CniError(
      ErrorCode.Internal,
      `plugin ${pluginType} failed but error parsing its diagnostic message "${stdout.trim()}"`,
    );
  }
}
