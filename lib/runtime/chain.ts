/**
 * Running a network configuration list the way libcni does: per plugin, inject `name`,
 * `cniVersion`, `runtimeConfig` (only capabilities the plugin declares and the caller supplies)
 * and `prevResult`; ADD in order, DEL in reverse, CHECK with the cached result; GC and STATUS on
 * every plugin (1.1.0 and later). Results are cached in libcni's format so that CHECK, DEL and
 * GC work across invocations, as with containerd or cnitool.
 */
import { findInPath } from '../cni/delegate';
import { CniError, ErrorCode, Failures, foreignCode } from '../cni/errors';
import { attachmentKey } from '../cni/invocation';
import { validKeys } from '../cni/netconf';
import { compareVersions } from '../cni/version';
import { defaultRunner } from '../exec/real';
import { cachedAttachments, deleteCache, readCache, writeCache } from './cache';
import type { NetworkConfigList, PluginConf } from './config';
import { writeAll } from '../stdio';

export interface RuntimeConf {
  readonly containerId: string;
  readonly netns: string;
  readonly ifName: string;
  readonly args: ReadonlyArray<[string, string]>;
  readonly capabilityArgs: Readonly<Record<string, unknown>>;
}
export interface RuntimeOptions {
  readonly cniPath: readonly string[];
  readonly cacheDir: string;
  readonly env?: NodeJS.ProcessEnv;
}

type Verb = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS';

export function injected(
  list: NetworkConfigList,
  plugin: PluginConf,
  rt: RuntimeConf | undefined,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  if (rt) {
    const rc: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(plugin.capabilities ?? {}))
      if (on && cap in rt.capabilityArgs) rc[cap] = rt.capabilityArgs[cap];
    if (Object.keys(rc).length > 0) conf['runtimeConfig'] = rc;
  }
  return { ...conf, ...extra };
}

async function exec(
  opts: RuntimeOptions,
  verb: Verb,
  plugin: PluginConf,
  conf: unknown,
  rt: RuntimeConf | undefined,
): Promise<unknown> {
  const path = findInPath(plugin.type, opts.cniPath);
  const env: NodeJS.ProcessEnv = {
    ...(opts.env ?? process.env),
    CNI_COMMAND: verb,
    CNI_CONTAINERID: rt?.containerId ?? '',
    CNI_NETNS: rt?.netns ?? '',
    CNI_IFNAME: rt?.ifName ?? '',
    CNI_ARGS: rt ? rt.args.map(([k, v]) => `${k}=${v}`).join(';') : '',
    CNI_PATH: opts.cniPath.join(':'),
  };
  const res = await defaultRunner().run({
    tool: 'plugin',
    path,
    argv: [],
    input: JSON.stringify(conf),
    env,
    allowFailure: true,
    timeoutMs: 120_000,
  });
  if (res.stderr) writeAll(2, res.stderr);
  if (res.exitCode !== 0) {
    let e: { code?: number; msg?: string; details?: string } = {};
    try {
      e = JSON.parse(res.stdout) as typeof e;
    } catch {
      e = { msg: res.stdout.trim() || `exit code ${res.exitCode}` };
    }
    throw new CniError(
      typeof e.code === 'number' ? foreignCode(e.code) : ErrorCode.Internal,
      `plugin type=${JSON.stringify(plugin.type)} name=${JSON.stringify(plugin['name'] ?? '')} failed (${verb.toLowerCase()}): ${e.msg ?? ''}`,
      e.details,
    );
  }
  if (verb !== 'ADD') return undefined;
  const out = JSON.parse(res.stdout) as Record<string, unknown>;
  if (!out['cniVersion'])
    out['cniVersion'] = conf && typeof conf === 'object' ? (conf as Record<string, unknown>)['cniVersion'] : undefined;
  return out;
}

export async function addNetworkList(list: NetworkConfigList, rt: RuntimeConf, opts: RuntimeOptions): Promise<unknown> {
  let prev: unknown;
  for (const p of list.plugins)
    prev = await exec(opts, 'ADD', p, injected(list, p, rt, prev === undefined ? {} : { prevResult: prev }), rt);
  writeCache(opts.cacheDir, {
    kind: 'cniCacheV1',
    containerId: rt.containerId,
    config: list.bytes.toString('base64'),
    ifName: rt.ifName,
    networkName: list.name,
    netns: rt.netns,
    ...(rt.args.length ? { cniArgs: rt.args.map(([k, v]) => [k, v] as [string, string]) } : {}),
    ...(Object.keys(rt.capabilityArgs).length ? { capabilityArgs: { ...rt.capabilityArgs } } : {}),
    result: prev,
  });
  return prev;
}

export async function delNetworkList(list: NetworkConfigList, rt: RuntimeConf, opts: RuntimeOptions): Promise<void> {
  const cached = readCache(opts.cacheDir, list.name, rt.containerId, rt.ifName);
  const prev = compareVersions(list.cniVersion, '0.4.0') >= 0 && cached?.result ? { prevResult: cached.result } : {};
  for (const p of [...list.plugins].reverse()) await exec(opts, 'DEL', p, injected(list, p, rt, prev), rt);
  deleteCache(opts.cacheDir, list.name, rt.containerId, rt.ifName);
}

export async function checkNetworkList(list: NetworkConfigList, rt: RuntimeConf, opts: RuntimeOptions): Promise<void> {
  if (compareVersions(list.cniVersion, '0.4.0') < 0)
    throw new Error(`configuration version "${list.cniVersion}" does not support the CHECK command`);
  if (list.disableCheck) return;
  const cached = readCache(opts.cacheDir, list.name, rt.containerId, rt.ifName);
  if (!cached?.result) throw new Error(`no cached result for ${list.name}/${rt.containerId}/${rt.ifName}`);
  for (const p of list.plugins) await exec(opts, 'CHECK', p, injected(list, p, rt, { prevResult: cached.result }), rt);
}

/** GC: DEL every cached attachment not in `valid`, then GC on every plugin; failures are collected, codes kept. */
export async function gcNetworkList(
  list: NetworkConfigList,
  valid: ReadonlyArray<{ containerID: string; ifname: string }> | undefined,
  opts: RuntimeOptions,
): Promise<void> {
  if (list.disableGC) return;
  const failures = new Failures();
  const keep = validKeys(valid ?? []);
  for (const e of cachedAttachments(opts.cacheDir, list.name)) {
    if (keep.has(attachmentKey(e.containerId, e.ifName))) continue;
    const rt: RuntimeConf = {
      containerId: e.containerId,
      netns: e.netns ?? '',
      ifName: e.ifName,
      args: e.cniArgs ?? [],
      capabilityArgs: e.capabilityArgs ?? {},
    };
    await delNetworkList(list, rt, opts).catch(failures.of());
  }
  if (compareVersions(list.cniVersion, '1.1.0') >= 0) {
    const extra = valid ? { 'cni.dev/valid-attachments': valid, 'cni.dev/attachments': valid } : {};
    for (const p of list.plugins)
      await exec(opts, 'GC', p, injected(list, p, undefined, extra), undefined).catch(failures.of());
  }
  failures.throwIfAny();
}

export async function statusNetworkList(list: NetworkConfigList, opts: RuntimeOptions): Promise<void> {
  if (compareVersions(list.cniVersion, '1.1.0') < 0) return;
  for (const p of list.plugins)
    await exec(opts, 'STATUS', p, { ...p, name: list.name, cniVersion: list.cniVersion }, undefined);
}
