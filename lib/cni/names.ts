/**
 * Validators for every name that reaches a command line or a file path. Each returns a
 * branded string, so functions that build argv or paths can demand a validated value.
 */
import { CniError, ErrorCode } from './errors';
import { rawLength } from '../sys/raw-text';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };
export type ContainerId = Brand<string, 'ContainerId'>;
export type IfName = Brand<string, 'IfName'>;
export type NetworkName = Brand<string, 'NetworkName'>;

/** The container ID and interface name of a call about no attachment (GC, STATUS). */
export const NO_CONTAINER = '' as ContainerId;
export const NO_IFNAME = '' as IfName;

const SAFE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validateContainerId(id: string): ContainerId {
  if (id === '') throw new CniError(ErrorCode.InvalidEnvironment, 'missing containerID');
  if (!SAFE_NAME.test(id)) throw new CniError(ErrorCode.InvalidEnvironment, 'invalid characters in containerID', id);
  return id as ContainerId;
}

export function validateNetworkName(name: string): NetworkName {
  if (name === '') throw new CniError(ErrorCode.InvalidNetworkConfig, 'missing network name');
  if (!SAFE_NAME.test(name)) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid characters found in network name', name);
  }
  return name as NetworkName;
}

/**
 * Go's unicode.IsSpace, which the reference's check uses (JavaScript's \s differs: it has U+FEFF
 * and lacks U+0085).
 */
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

/**
 * The reference's ValidateInterfaceName, byte for byte: at most 15 bytes (as the kernel keeps
 * them: a byte that is not UTF-8 counts one, see lib/sys/raw-text.ts), not `.` or `..`, no `/`,
 * `:` or white space. Everything else Linux allows in a link name passes, `"` and `;` included:
 * whatever takes the name further (firewall text, file names) makes it safe there.
 */
export function validateIfName(name: string): IfName {
  const bad = (msg: string, details?: string): CniError => new CniError(ErrorCode.InvalidEnvironment, msg, details);
  if (name === '') throw bad('interface name is empty');
  if (rawLength(name) > 15) throw bad('interface name is too long', 'interface name should be less than 16 characters');
  if (name === '.' || name === '..') throw bad('interface name is . or ..');
  if (/[/:]/.test(name) || GO_SPACE.test(name)) throw bad('interface name contains / or : or whitespace characters');
  return name as IfName;
}

/** A Linux link name that tscni itself chose or read from config (bridge name, veth name). */
export function isValidLinkName(name: string): boolean {
  return (
    name.length > 0 &&
    rawLength(name) <= 15 &&
    name !== '.' &&
    name !== '..' &&
    !/[/:]/.test(name) &&
    !GO_SPACE.test(name) &&
    !name.startsWith('-')
  );
}
