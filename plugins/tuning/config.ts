/**
 * tuning configuration (reference: plugins/meta/tuning TuningConf), decoded with Go's rules.
 *
 * Later sources win, in the reference's order: the plugin's own keys, CNI_ARGS `MAC`,
 * `runtimeConfig.mac` (capability `mac`), then `args.cni.*` (sysctls there are merged over the
 * plugin's). Interface settings left out (or `promisc: false`, `mtu: 0`) change nothing.
 */
import { parseCniArgs } from '../../lib/cni/args';
import type { NetConfig } from '../../lib/cni/invocation';
import { ConfigError } from '../../lib/cni/errors';
import * as t from '../../lib/cni/schema';
import { duplicateSysctlKey } from './duplicates';
import { parseSysctlKey, type SysctlKey } from './sysctl';
import { parseGoMac } from '../../lib/net/mac';

/** The reference's default: on tmpfs, so a reboot forgets interfaces that are gone anyway. */
export const DEFAULT_DATA_DIR = '/run/cni/tuning';

/** A JSON object of string values whose keys are kept as written (Go's map[string]string). */
const stringMap: t.Decoder<Array<[string, string]>> = (v, path) => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new t.DecodeError(path, 'object', v);
  return Object.entries(v as Record<string, unknown>).map(([k, value]) => [k, t.string(value, [...path, k])]);
};

const tunables = {
  sysctl: t.optional(stringMap),
  mac: t.optional(t.string),
  promisc: t.optional(t.boolean),
  mtu: t.optional(t.int),
  txQLen: t.optional(t.int),
  allmulti: t.optional(t.boolean),
};
const decoder = t.object({
  ...tunables,
  dataDir: t.optional(t.string),
  runtimeConfig: t.optional(t.object({ mac: t.optional(t.string) })),
  args: t.optional(t.object({ cni: t.optional(t.object(tunables)) })),
});

/** A sysctl from the configuration, with the key as written (the allow-list matches that). */
export interface SysctlSetting {
  readonly raw: string;
  readonly key: SysctlKey;
  readonly value: string;
}

export interface TuningConfig {
  readonly dataDir: string;
  /** In configuration order; a key given twice keeps its last value and first position. */
  readonly sysctls: readonly SysctlSetting[];
  /** Lower-case, colon-separated. */
  readonly mac: string | undefined;
  /** Only `true` does anything: promiscuous mode is switched on, never off. */
  readonly promisc: boolean;
  readonly mtu: number | undefined;
  readonly allmulti: boolean | undefined;
  readonly txQLen: number | undefined;
}

/** True when the configuration asks for a change of the interface itself (not only sysctls). */
export const changesLink = (c: TuningConfig): boolean =>
  c.mac !== undefined || c.promisc || c.mtu !== undefined || c.allmulti !== undefined || c.txQLen !== undefined;

/** A 6-byte MAC in any of the spellings Go's net.ParseMAC accepts, as `aa:bb:cc:dd:ee:ff`. */
export function parseMacAddress(raw: string): string {
  const mac = parseGoMac(raw);
  if (mac === undefined) throw new ConfigError(`invalid args ${raw} for MAC addr: address ${raw}: invalid MAC address`);
  return mac;
}

function checkRange(what: string, v: number | undefined, max: number): void {
  if (v !== undefined && (v < 0 || v > max))
    throw new ConfigError(`invalid ${what} ${v}: must be between 0 and ${max}`);
}

/** The state directory alone, for DEL, GC and STATUS: they must not fail on settings they do not apply. */
export function loadDataDir(config: NetConfig, delCniArgs?: string): string {
  const c = t.parseWith(decoder, config, 'tuning configuration');
  if (delCniArgs !== undefined) parseCniArgs(delCniArgs, ['MAC']); // DEL refuses bad CNI_ARGS, as the reference does
  return c.dataDir || DEFAULT_DATA_DIR;
}

/**
 * Decodes the configuration for ADD and CHECK. Sysctl keys are checked for form here (net.* only,
 * no escape from /proc/sys/net); whether the kernel has them per namespace is checked inside the
 * container.
 */
export function loadTuningConfig(config: NetConfig, cniArgs: string, ifName: string, stdin: Buffer): TuningConfig {
  const c = t.parseWith(decoder, config, 'tuning configuration');
  // JSON.parse keeps the last of duplicate keys; the raw text still has them.
  const dup = duplicateSysctlKey(stdin.toString('utf8'));
  if (dup !== undefined) throw new ConfigError('duplicated sysctl keys are not allowed', dup);
  const a = c.args?.cni;
  const merged = new Map<string, string>();
  for (const [k, v] of [...(c.sysctl ?? []), ...(a?.sysctl ?? [])]) merged.set(k, v);
  const sysctls = [...merged].map(([raw, value]) => ({ raw, value, key: parseSysctlKey(raw, ifName) }));

  let mac = c.mac || undefined;
  const argsMac = parseCniArgs(cniArgs, ['MAC'])['MAC'];
  if (argsMac) mac = argsMac;
  if (c.runtimeConfig?.mac) mac = c.runtimeConfig.mac;
  if (a?.mac !== undefined) mac = a.mac;
  const mtu = a?.mtu ?? c.mtu;
  const txQLen = a?.txQLen ?? c.txQLen;
  checkRange('MTU', mtu, 0x7fffffff);
  checkRange('txQLen', txQLen, 0xffffffff);
  return {
    dataDir: c.dataDir || DEFAULT_DATA_DIR,
    sysctls,
    mac: mac ? parseMacAddress(mac) : undefined,
    promisc: a?.promisc ?? c.promisc ?? false,
    mtu: mtu ? mtu : undefined,
    allmulti: a?.allmulti ?? c.allmulti,
    txQLen,
  };
}
