/**
 * Which CNI_* variables each verb needs, checked in the reference's order (pkg/skel): all
 * missing ones are reported together (code 4), but a present-and-invalid container ID or
 * interface name is reported at once.
 */
import { CniError, ErrorCode } from './errors';
import type { Env } from './io';
import { validateContainerId, validateIfName } from './names';

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
const VALIDATED: Partial<Record<EnvVar, (v: string) => unknown>> = {
  CNI_CONTAINERID: validateContainerId,
  CNI_IFNAME: validateIfName,
};
const VALIDATED_FOR = ['ADD', 'DEL', 'CHECK'];

/** Returns the names of required-but-missing variables; throws on an invalid one. */
export function checkEnv(env: Env): string[] {
  const command = env['CNI_COMMAND'] ?? '';
  const missing: string[] = [];
  for (const name of ENV_ORDER) {
    const value = env[name] ?? '';
    const required = name === 'CNI_COMMAND' || REQUIRED[name].includes(command);
    if (!required) continue;
    if (value === '') {
      missing.push(name);
      continue;
    }
    const validate = VALIDATED[name];
    if (validate && VALIDATED_FOR.includes(command)) validate(value);
  }
  return missing;
}

export function missingEnvError(missing: readonly string[]): CniError {
  return new CniError(ErrorCode.InvalidEnvironment, `required env variables [${missing.join(',')}] missing`);
}

/** CNI_PATH split like Go's filepath.SplitList (empty entries dropped). */
export const splitPath = (p: string | undefined): string[] => (p ?? '').split(':').filter((s) => s !== '');
