/**
 * Link types a kernel may have been built without. Creating one of them there fails with
 * EOPNOTSUPP ("operation not supported"), which tells an operator nothing; these words say which
 * link type and which kernel option is missing.
 */
import { CniError, ErrorCode } from '../cni/errors';
import { isErrno } from '../netlink';

const KINDS = {
  vlan: ['802.1Q VLAN', 'CONFIG_VLAN_8021Q'],
  vrf: ['VRF', 'CONFIG_NET_VRF'],
  dummy: ['dummy', 'CONFIG_DUMMY'],
  macvlan: ['macvlan', 'CONFIG_MACVLAN'],
  ipvlan: ['ipvlan', 'CONFIG_IPVLAN'],
} as const;

export type OptionalLinkKind = keyof typeof KINDS;

/** "this kernel has no 802.1Q VLAN links (CONFIG_VLAN_8021Q)" */
export function missingKindText(kind: OptionalLinkKind): string {
  const [what, option] = KINDS[kind];
  return `this kernel has no ${what} links (${option})`;
}

/**
 * The CNI error for a failed creation of a `kind` link: `<what>: <missing kind>` when the kernel
 * lacks the type, else `<what>: <the kernel's words>`; the netlink error goes to details.
 */
export function creationError(kind: OptionalLinkKind, what: string, e: unknown): CniError {
  const detail = e instanceof Error ? e.message : String(e);
  if (isErrno(e, 'EOPNOTSUPP')) return new CniError(ErrorCode.Internal, `${what}: ${missingKindText(kind)}`, detail);
  return new CniError(ErrorCode.Internal, what, detail);
}
