/**
 * TAP devices. The kernel creates them only through /dev/net/tun (an RTM_NEWLINK of kind `tun`
 * is refused: "tun/tap creation via rtnetlink is not supported"), so a persistent tap takes an
 * open of the device file inside the target namespace — the file remembers the namespace it was
 * opened in — and four ioctls: TUNSETIFF (create), TUNSETOWNER, TUNSETGROUP, TUNSETPERSIST.
 * Everything else (MTU, MAC, master, up) is netlink, as for any other link.
 *
 * `TunFile` is what the Kernel seam hands out; `describeTun` renders each call as one line, so
 * unit tests record the ioctls next to the netlink requests in golden plans.
 */
import { closeSync, openSync } from 'node:fs';
import { CniError, ErrorCode } from '../cni/errors';
import { errnoName, errnoText } from '../sys/errno';
import { libc } from '../sys/libc';
import { inNetns } from '../sys/netns';

export const TUN_DEVICE = '/dev/net/tun';

// <linux/if_tun.h>
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
export const IFF_TUN_EXCL = 0x8000;
const TUNSETIFF = 0x400454ca;
const TUNSETPERSIST = 0x400454cb;
const TUNSETOWNER = 0x400454cc;
const TUNSETGROUP = 0x400454ce;
/** struct ifreq: a 16-byte name, then the union whose first member is the short flags. */
const IFREQ_SIZE = 40;

const FLAG_NAMES: ReadonlyArray<[number, string]> = [
  [IFF_TUN, 'tun'],
  [IFF_TAP, 'tap'],
  [IFF_NO_PI, 'no_pi'],
  [IFF_VNET_HDR, 'vnet_hdr'],
  [IFF_MULTI_QUEUE, 'multi_queue'],
  [IFF_TUN_EXCL, 'excl'],
];

export const tunFlagWords = (flags: number): string =>
  FLAG_NAMES.filter(([bit]) => flags & bit)
    .map(([, name]) => name)
    .join(',');

/** A refused ioctl (or open); `errno` is the name, e.g. 'EBUSY'. */
export class TunError extends Error {
  constructor(
    readonly errno: string,
    readonly call: string,
    text: string,
  ) {
    super(`${call}: ${text} (${errno})`);
    this.name = 'TunError';
  }
}

export const isTunErrno = (e: unknown, ...names: string[]): e is TunError =>
  e instanceof TunError && names.includes(e.errno);

/** /dev/net/tun opened in one namespace: the calls a persistent tap takes. */
export interface TunFile {
  /** TUNSETIFF: creates the device `name` (with IFF_TUN_EXCL, EBUSY when the name is taken). */
  setIff(name: string, flags: number): void;
  setOwner(uid: number): void;
  setGroup(gid: number): void;
  setPersist(on: boolean): void;
  /** Closing a file whose device is not persistent destroys the device. */
  close(): void;
}

/** One line per call, as golden plans show them. */
export const describeTun = {
  open: (where: string): string => `open ${TUN_DEVICE}${where}`,
  setIff: (name: string, flags: number): string => `TUNSETIFF name=${name} flags=${tunFlagWords(flags)}`,
  setOwner: (uid: number): string => `TUNSETOWNER uid=${uid}`,
  setGroup: (gid: number): string => `TUNSETGROUP gid=${gid}`,
  setPersist: (on: boolean): string => `TUNSETPERSIST ${on ? 1 : 0}`,
  close: (): string => 'close',
};

export function encodeIfreq(name: string, flags: number): Uint8Array {
  const buf = new Uint8Array(IFREQ_SIZE);
  const bytes = new TextEncoder().encode(name);
  if (bytes.length > 15) throw new Error(`interface name ${JSON.stringify(name)} is longer than 15 bytes`);
  buf.set(bytes);
  new DataView(buf.buffer).setUint16(16, flags, true);
  return buf;
}

/** The real file (Bun only): opened on this thread switched into `netns`, so the tap is born there. */
export function openTunIn(netns: string): TunFile {
  let fd: number;
  try {
    fd = inNetns(netns, () => openSync(TUN_DEVICE, 'r+'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new TunError(code, `open ${TUN_DEVICE}`, (e as Error).message);
    throw e;
  }
  const c = libc();
  const call = (what: string, request: number, arg: Uint8Array | number): void => {
    if (c.ioctl(fd, request, arg) < 0) {
      const n = c.errno();
      throw new TunError(errnoName(n), what, errnoText(n));
    }
  };
  return {
    setIff: (name, flags) => call('TUNSETIFF', TUNSETIFF, encodeIfreq(name, flags)),
    setOwner: (uid) => call('TUNSETOWNER', TUNSETOWNER, uid),
    setGroup: (gid) => call('TUNSETGROUP', TUNSETGROUP, gid),
    setPersist: (on) => call('TUNSETPERSIST', TUNSETPERSIST, on ? 1 : 0),
    close: () => closeSync(fd),
  };
}

export interface TapSpec {
  readonly name: string;
  readonly multiQueue: boolean;
  readonly owner?: number;
  readonly group?: number;
}

/**
 * Creates a persistent tap in the namespace of `tun` — exclusively (IFF_TUN_EXCL: a name in use
 * is EBUSY, never an attach to someone else's device) — with its owner and group, and lets go of
 * it. Until TUNSETPERSIST the device lives only as long as the open file, so a failure before it
 * leaves nothing behind. The flags are those of `ip tuntap add mode tap`: no packet information
 * header; a process attaching later chooses its own vnet header, only multi-queue must match.
 */
export function createTap(tun: () => TunFile, spec: TapSpec): void {
  let file: TunFile;
  try {
    file = tun();
  } catch (e) {
    throw tapError(spec.name, e);
  }
  try {
    file.setIff(spec.name, IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL | (spec.multiQueue ? IFF_MULTI_QUEUE : 0));
    if (spec.owner !== undefined) file.setOwner(spec.owner);
    if (spec.group !== undefined) file.setGroup(spec.group);
    file.setPersist(true);
  } catch (e) {
    throw tapError(spec.name, e);
  } finally {
    file.close();
  }
}

function tapError(name: string, e: unknown): CniError {
  const detail = e instanceof Error ? e.message : String(e);
  if (isTunErrno(e, 'ENOENT', 'ENODEV', 'ENXIO'))
    return new CniError(
      ErrorCode.Internal,
      `failed to create tap: ${TUN_DEVICE} is missing or has no driver (CONFIG_TUN)`,
      detail,
    );
  if (isTunErrno(e, 'EBUSY'))
    return new CniError(
      ErrorCode.Internal,
      `failed to create tap: interface ${JSON.stringify(name)} already exists in the container`,
      detail,
    );
  return new CniError(ErrorCode.Internal, 'failed to create tap', detail);
}
