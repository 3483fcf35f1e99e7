/**
 * Which CNI_* variables each verb needs, checked in the reference's order (pkg/skel): all
 * missing ones are reported together (code 4), but a present-and-invalid container ID or
 * interface name is reported at once.
 */
import { CniError, ErrorCode } from './errors';
import type { Env } from './io';
import { NO_CONTAINER, NO_IFNAME, validateContainerId, validateIfName, type ContainerId, type IfName } from './names';

export const VERBS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const;
export type Verb = (typeof VERBS)[number];
export const isVerb = (s: string): s is Verb => (VERBS as readonly string[]).includes(s);

const ENV_ORDER = ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH'] as const;
type EnvVar = (typeof ENV_ORDER)[number];

const REQUIRED: Record<EnvVar, readonly string[]> = {
  CNI_COMMAND: VERBS,
  CNI_CONTAINERID: ['ADD', 'DEL', 'CHECK'],
  CNI_NETNS: ['ADD', 'CHECK'],
  CNI_IFNAME: ['ADD', 'DEL', 'CHECK'],
  CNI_ARGS: [],
  CNI_PATH: ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS'],
};
/** The verbs about one attachment: they need and validate CNI_CONTAINERID and CNI_IFNAME. */
export const isAttachVerb = (command: string): boolean => command === 'ADD' || command === 'DEL' || command === 'CHECK';

export interface CheckedEnv {
  /** Required-but-missing variables, in the reference's order. */
  readonly missing: string[];
  /** Validated for ADD, DEL and CHECK; '' for the other verbs (and while missing). */
  readonly containerId: ContainerId;
  readonly ifName: IfName;
}

/** Finds the required-but-missing variables; throws on an invalid container ID or interface name. */
export function checkEnv(env: Env): CheckedEnv {
  const command = env['CNI_COMMAND'] ?? '';
  const missing: string[] = [];
  let containerId = NO_CONTAINER;
  let ifName = NO_IFNAME;
  for (const name of ENV_ORDER) {
    const value = env[name] ?? '';
    const required = name === 'CNI_COMMAND' || REQUIRED[name].includes(command);
    if (!required) continue;
    if (value === '') {
      missing.push(name);
      continue;
    }
    if (!isAttachVerb(command)) continue;
    if (name === 'CNI_CONTAINERID') containerId = validateContainerId(value);
    if (name === 'CNI_IFNAME') ifName = validateIfName(value);
  }
  return { missing, containerId, ifName };
}

export function missingEnvError(missing: readonly string[]): CniError {
  return new CniError(ErrorCode.InvalidEnvironment, `required env variables [${missing.join(',')}] missing`);
}

/** CNI_PATH split like Go's filepath.SplitList (empty entries dropped). */
export const splitPath = (p: string | undefined): string[] => (p ?? '').split(':').filter((s) => s !== '');

/**
 * How many delegations led to this call, for calls a plugin of ours exec'd (delegate.ts sets it;
 * a runtime never does). A value that is not a small number counts as the limit: only our own
 * delegation sets it.
 */
export const DEPTH_ENV = 'TSCNI_DELEGATION_DEPTH';
export function delegationDepth(env: Env): number {
  const v = env[DEPTH_ENV];
  if (v === undefined || v === '') return 0;
  return /^[0-9]{1,2}$/.test(v) ? Number(v) : Number.MAX_SAFE_INTEGER;
}
