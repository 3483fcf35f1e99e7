/**
 * Delegation to another plugin (IPAM), as the spec's §4 and libcni's invoke package do it:
 * find `<dir>/<type>` in CNI_PATH, run it with the same stdin bytes and environment but another
 * CNI_COMMAND, and pass its typed error through unchanged.
 *
 * Delegation cannot loop: a plugin never delegates to its own type (the delegate would read the
 * same config and delegate again), nor to one of our plugins that is not an IPAM plugin (which
 * would do just that, after acting), and a chain of delegations stops at MAX_DEPTH, in-process
 * (the depth travels in the Invocation) and across processes (in TSCNI_DELEGATION_DEPTH, which
 * other implementations pass on with the rest of the environment). Both are code 7.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultRunner } from '../exec/real';
import type { Runner } from '../exec/runner';
import { warn } from '../log';
import type { Invocation } from './invocation';
import type { PluginFuncs } from './plugin';
import { DEPTH_ENV, type Verb } from './env';
import { CniError, ConfigError, ErrorCode, foreignCode, toCniError } from './errors';
import { hasRawBytes } from '../sys/raw-text';
import { parseJson } from './json';
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

/** Delegations one call may lead to (a runtime's call → IPAM is 1). */
export const MAX_DEPTH = 4;

/**
 * The plugins of this executable that are IPAM plugins. Every delegation is to `ipam.type` with
 * the same config, so any other of ours (an interface plugin) would read that config, delegate
 * to itself and be refused, but only after its own verb had acted (a ptp DEL deletes the
 * container interface of that name first: as host-device's IPAM, the device it had moved in).
 */
const OUR_IPAM_PLUGINS: ReadonlySet<string> = new Set(['host-local', 'static', 'dhcp']);

/** Refuses a delegation to one of our plugins that is not an IPAM plugin (see OUR_IPAM_PLUGINS). */
function checkIpamPlugin(pluginType: string, path: string): void {
  if (!OUR_IPAM_PLUGINS.has(pluginType) && isThisExecutable(path))
    throw new ConfigError(
      `plugin ${JSON.stringify(pluginType)} is not an IPAM plugin`,
      `ipam.type must name an IPAM plugin (${[...OUR_IPAM_PLUGINS].join(', ')}, or another vendor's)`,
    );
}

/** Refuses a delegation that would loop. */
function checkDelegation(pluginType: string, inv: Invocation): number {
  if (inv.pluginType !== undefined && pluginType === inv.pluginType)
    throw new ConfigError(
      `plugin ${JSON.stringify(pluginType)} cannot delegate to itself`,
      'ipam.type names the plugin that reads it; it must name an IPAM plugin (e.g. host-local)',
    );
  const depth = (inv.depth ?? 0) + 1;
  if (depth > MAX_DEPTH)
    throw new ConfigError(
      `delegation to ${JSON.stringify(pluginType)} exceeds ${MAX_DEPTH} levels`,
      'plugins delegate to each other in a loop',
    );
  return depth;
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

/** A delegate found and cleared to run: `run` runs one verb on it; ADD returns its result. */
export interface Delegate {
  run(verb: Verb): Promise<Result | undefined>;
}

/**
 * Finds the delegate `pluginType` and checks that delegating to it cannot loop, without running
 * it: an ADD registers the delegate's DEL as an undo step only once there is a delegate to undo.
 */
export function delegateTo(pluginType: string, inv: Invocation, opts: DelegateOptions = {}): Delegate {
  const depth = checkDelegation(pluginType, inv);
  const path = findInPath(pluginType, inv.cniPath);
  checkIpamPlugin(pluginType, path);
  return { run: (verb) => runDelegate(verb, pluginType, path, depth, inv, opts) };
}

/** Runs `verb` on the delegate `pluginType`; ADD returns the delegate's result. */
export function delegate(
  verb: Verb,
  pluginType: string,
  inv: Invocation,
  opts: DelegateOptions = {},
): Promise<Result | undefined> {
  return delegateTo(pluginType, inv, opts).run(verb);
}

async function runDelegate(
  verb: Verb,
  pluginType: string,
  path: string,
  depth: number,
  inv: Invocation,
  opts: DelegateOptions,
): Promise<Result | undefined> {
  const local = opts.stdin === undefined ? inv.plugins?.(pluginType) : undefined;
  if (local && isThisExecutable(path)) {
    try {
      return await runInProcess(await local.load(), verb, { ...inv, pluginType, depth });
    } catch (e) {
      throw toCniError(e);
    }
  }
  // Another process gets its environment as text: a value that is not UTF-8 (an interface name
  // may hold any byte) would reach it changed, so it is refused rather than passed on wrong.
  const raw = Object.entries(inv.env).find(([k, v]) => k.startsWith('CNI_') && v !== undefined && hasRawBytes(v));
  if (raw)
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      `${raw[0]} is not UTF-8 and cannot be passed to the plugin ${path}`,
      'only plugins of this executable take such names',
    );
  const env: NodeJS.ProcessEnv = { ...inv.env, CNI_COMMAND: verb, [DEPTH_ENV]: String(depth) };
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
    json = parseJson(res.stdout);
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
    const e = (parseJson(stdout) ?? {}) as { code?: unknown; msg?: unknown; details?: unknown };
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
