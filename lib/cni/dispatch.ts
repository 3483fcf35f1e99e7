/**
 * The dispatcher every plugin's main uses (the analogue of the reference's pkg/skel).
 * It owns the protocol: env checks, reading stdin, the network name and version gates, the
 * netns sanity check, printing exactly one JSON document and the exit code. Handlers never
 * print; they return a Result (ADD) or nothing, and throw on failure.
 */
import { debug } from '../log';
import { nodeFs } from '../sys/fs';
import { CniError, ErrorCode, toCniError } from './errors';
import { checkEnv, delegationDepth, isAttachVerb, isVerb, missingEnvError, splitPath, type Verb } from './env';
import type { PluginIO } from './io';
import type { Invocation } from './invocation';
import { validateNetworkName } from './names';
import { toWire } from './result/encode';
import { parseJson } from './json';
import type { PluginEntry, PluginLookup } from './plugin';
import {
  ALL_VERSIONS,
  CURRENT_VERSION,
  isSupportedVersion,
  parseVersion,
  compareVersions,
  type CniVersion,
  versionAnswer,
} from './version';

/** What the dispatcher passes on to handlers besides the call itself. */
export interface DispatchOptions {
  readonly plugins?: PluginLookup;
  /** The type of the plugin being run (its name in the registry). */
  readonly pluginType?: string;
}

const versionList = (): string => `[${ALL_VERSIONS.map((v) => JSON.stringify(v)).join(' ')}]`;

/** The per-verb version gate, with the reference's messages and codes. */
function gateVersion(verb: Verb, raw: unknown): CniVersion {
  if (raw !== undefined && typeof raw !== 'string') {
    throw new CniError(
      ErrorCode.DecodingFailure,
      'decoding version from network config',
      `cniVersion must be a string, got ${JSON.stringify(raw)}`,
    );
  }
  const v = raw === undefined || raw === '' ? '0.1.0' : raw;
  const min = verb === 'CHECK' ? '0.4.0' : verb === 'GC' || verb === 'STATUS' ? '1.1.0' : undefined;
  if (min) {
    try {
      parseVersion(v);
    } catch (e) {
      throw new CniError(ErrorCode.DecodingFailure, 'decoding version from network config', (e as Error).message);
    }
    if (compareVersions(v, min) < 0)
      throw new CniError(ErrorCode.IncompatibleVersion, `config version does not allow ${verb}`);
    if (compareVersions(v, CURRENT_VERSION) > 0)
      throw new CniError(ErrorCode.IncompatibleVersion, `plugin version does not allow ${verb}`);
  }
  if (!isSupportedVersion(v)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      'incompatible CNI versions',
      `config is ${JSON.stringify(v)}, plugin supports ${versionList()}`,
    );
  }
  return v;
}

/** True when CNI_NETNS names the namespace this process runs in (skel's ErrInvalidNetNS case). */
function isOwnNetns(path: string): boolean {
  try {
    const { statSync } = nodeFs();
    const a = statSync(path);
    const b = statSync('/proc/self/ns/net');
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false; // a path that cannot be opened is not this check's business
  }
}

function print(io: PluginIO, obj: unknown): void {
  io.stdout(JSON.stringify(obj, null, 4));
}

/** Runs one plugin invocation; returns the process exit code. */
export async function dispatch(plugin: PluginEntry, io: PluginIO, options: DispatchOptions = {}): Promise<number> {
  let cniVersion: string = CURRENT_VERSION;
  try {
    const env = io.env;
    const command = env['CNI_COMMAND'] ?? '';
    const { missing, containerId, ifName } = checkEnv(env);
    if (missing.length > 0) {
      if (command === '' && plugin.about !== '') {
        io.stderr(`${plugin.about}\nCNI protocol versions supported: ${ALL_VERSIONS.join(', ')}\n`);
        return 0;
      }
      throw missingEnvError(missing);
    }
    if (command === 'VERSION') {
      io.stdout(versionAnswer());
      return 0;
    }
    let stdin: Buffer;
    try {
      stdin = await io.readStdin();
    } catch (e) {
      throw new CniError(ErrorCode.IOFailure, 'error reading from stdin', (e as Error).message);
    }
    let config: unknown;
    try {
      config = parseJson(stdin.toString('utf8'), { floats: true });
    } catch (e) {
      throw new CniError(ErrorCode.DecodingFailure, 'error unmarshall network config', (e as Error).message);
    }
    // Go decodes `null` into the config struct as nothing at all: every field stays empty.
    if (config === null) config = {};
    if (typeof config !== 'object' || Array.isArray(config)) {
      throw new CniError(
        ErrorCode.DecodingFailure,
        'error unmarshall network config',
        'network config must be a JSON object',
      );
    }
    const obj = config as Record<string, unknown>;
    const rawName = obj['name'] ?? undefined;
    if (rawName !== undefined && typeof rawName !== 'string') {
      throw new CniError(ErrorCode.DecodingFailure, 'error unmarshall network config', 'name must be a string');
    }
    const networkName = validateNetworkName(rawName ?? '');
    if (typeof obj['cniVersion'] === 'string' && isSupportedVersion(obj['cniVersion'])) cniVersion = obj['cniVersion'];
    if (!isVerb(command)) throw new CniError(ErrorCode.InvalidEnvironment, `unknown CNI_COMMAND: ${command}`);
    const version = gateVersion(command, obj['cniVersion'] ?? undefined);
    cniVersion = version;

    const netns = env['CNI_NETNS'] ?? '';
    if (
      (command === 'ADD' || command === 'DEL') &&
      netns !== '' &&
      !/^(1|true)$/i.test(env['CNI_NETNS_OVERRIDE'] ?? '') &&
      isOwnNetns(netns)
    ) {
      throw new CniError(ErrorCode.InvalidNetns, "plugin's netns and netns from CNI_NETNS should not be the same");
    }
    const inv: Invocation = {
      command,
      containerId,
      netns: isAttachVerb(command) ? netns : '',
      ifName,
      cniArgs: env['CNI_ARGS'] ?? '',
      cniPath: splitPath(env['CNI_PATH']),
      env,
      stdin,
      config: obj,
      networkName,
      cniVersion: version,
      plugins: options.plugins,
      pluginType: options.pluginType,
      depth: delegationDepth(env),
    };
    const funcs = await plugin.load();
    debug('plugin loaded');
    switch (command) {
      case 'ADD': {
        if (!funcs.add) return 0;
        const result = await funcs.add(inv);
        print(io, toWire(result, version));
        return 0;
      }
      case 'DEL':
        await funcs.del?.(inv);
        return 0;
      case 'CHECK':
        await funcs.check?.(inv);
        return 0;
      case 'GC':
        await funcs.gc?.(inv);
        return 0;
      case 'STATUS':
        await funcs.status?.(inv);
        return 0;
    }
    return 0;
  } catch (e) {
    const err = toCniError(e);
    print(io, { cniVersion, ...err.toJSON() });
    return 1;
  }
}
