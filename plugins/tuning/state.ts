/**
 * What ADD changed, kept until DEL puts it back: one file per attachment,
 * `<dataDir>/<containerID>_<ifname>.json` (dataDir defaults to /run/cni/tuning), in the
 * reference's format so either implementation can restore what the other changed:
 *
 *   {"mac": "…", "promisc": false, "mtu": 1500, "allmulti": false, "txQLen": 1000}
 *
 * (only the attributes that were changed, one-space indentation, mode 0600). tscni adds one key
 * the reference ignores, `tscni`: `{"network": "…", "sysctl": {"net/core/somaxconn": "4096"}}`,
 * the network the attachment belongs to (so GC can tell its files from other networks') and the
 * sysctls' original values (the reference does not restore sysctls). A file without it, e.g. the
 * reference's, restores the interface only.
 */
import { join } from 'node:path';
import * as t from '../../lib/cni/schema';
import { fileNameFor, SafeDir, UnsafePathError } from '../../lib/sys/safe-fs';
import { warn } from '../../lib/log';
import { DEFAULT_DATA_DIR } from './config';
import { parseJson } from '../../lib/cni/json';

export interface LinkOriginals {
  mac?: string;
  promisc?: boolean;
  mtu?: number;
  allmulti?: boolean;
  txQLen?: number;
}

export interface StateRecord extends LinkOriginals {
  /** The network of the attachment (tscni's files only). */
  network?: string;
  /** Original values by key relative to /proc/sys, in the order they were changed (tscni only). */
  sysctls?: Array<[string, string]>;
}

/** Where records live; a directory on disk in the plugin, a map in unit tests. */
export interface StateStore {
  /** The record, undefined when there is none; throws StateFileError when it cannot be read. */
  read(name: string): StateRecord | undefined;
  write(name: string, record: StateRecord): void;
  remove(name: string): void;
  /** Every record name in the store. */
  names(): string[];
}

/**
 * The reference's file name; one too long for a file system (a container ID has no length limit)
 * is hashed, so ADD and DEL of such an attachment still work (the reference fails them).
 */
export const recordName = (containerId: string, ifName: string): string =>
  fileNameFor(`${containerId}_${ifName}.json`, 255);

/** State files are small; anything bigger is not one. */
const MAX_STATE_FILE = 64 * 1024;

/** A record that exists but does not decode. */
export class StateFileError extends Error {
  constructor(name: string, why: string) {
    super(`tuning state ${name} is unreadable: ${why}`);
    this.name = 'StateFileError';
  }
}

/** `{"net/ipv4/conf/eth0/rp_filter": "1", ...}`, in the order the values were changed. */
const originalsMap: t.Decoder<Array<[string, string]>> = (v, path) => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new t.DecodeError(path, 'object', v);
  return Object.entries(v as Record<string, unknown>).map(([k, value]) => [k, t.string(value, [...path, k])]);
};
const extension = t.object({
  network: t.optional(t.string),
  sysctl: t.optional(originalsMap),
});
const wire = t.object({
  mac: t.optional(t.string),
  promisc: t.optional(t.boolean),
  mtu: t.optional(t.int),
  allmulti: t.optional(t.boolean),
  txQLen: t.optional(t.int),
  tscni: t.optional(extension),
});

export function decodeRecord(name: string, text: string): StateRecord {
  let json: unknown;
  try {
    json = parseJson(text);
  } catch (e) {
    throw new StateFileError(name, (e as Error).message);
  }
  let w: t.Decoded<typeof wire>;
  try {
    w = wire(json, []);
  } catch (e) {
    throw new StateFileError(name, (e as Error).message);
  }
  const rec: StateRecord = {};
  if (w.mac) rec.mac = w.mac;
  if (w.promisc !== undefined) rec.promisc = w.promisc;
  if (w.mtu) rec.mtu = w.mtu;
  if (w.allmulti !== undefined) rec.allmulti = w.allmulti;
  if (w.txQLen !== undefined) rec.txQLen = w.txQLen;
  if (w.tscni?.network) rec.network = w.tscni.network;
  if (w.tscni?.sysctl?.length) rec.sysctls = w.tscni.sysctl;
  return rec;
}

/** The reference's layout: its keys in its order, one-space indentation, no trailing newline. */
export function encodeRecord(r: StateRecord): string {
  const out: Record<string, unknown> = {};
  if (r.mac) out['mac'] = r.mac;
  if (r.promisc !== undefined) out['promisc'] = r.promisc;
  if (r.mtu) out['mtu'] = r.mtu;
  if (r.allmulti !== undefined) out['allmulti'] = r.allmulti;
  if (r.txQLen !== undefined) out['txQLen'] = r.txQLen;
  if (r.network !== undefined || r.sysctls?.length) {
    out['tscni'] = {
      ...(r.network !== undefined ? { network: r.network } : {}),
      // Keys are `net/...` paths (checked when written), never __proto__ or array indexes.
      ...(r.sysctls?.length ? { sysctl: Object.fromEntries(r.sysctls) } : {}),
    };
  }
  return JSON.stringify(out, null, 1);
}

/**
 * Merges what ADD is about to change into an earlier record of the same attachment (a repeated
 * ADD): values already recorded are the true originals and win.
 */
export function mergeRecords(earlier: StateRecord | undefined, now: StateRecord): StateRecord {
  if (!earlier) return now;
  const known = new Set((earlier.sysctls ?? []).map(([k]) => k));
  const sysctls = [...(earlier.sysctls ?? []), ...(now.sysctls ?? []).filter(([k]) => !known.has(k))];
  return {
    ...now,
    ...stripUndefined(earlier),
    ...(now.network !== undefined ? { network: now.network } : {}),
    ...(sysctls.length ? { sysctls } : {}),
  };
}

const stripUndefined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/**
 * The store on disk, through safe-fs: a link is never followed, a FIFO never blocks, a special
 * file or a directory where a record should be is reported (StateFileError) and replaced or
 * removed, never written through. Writes go to a temporary name first, so a crash never leaves
 * half a file.
 */
export function diskStore(dataDir: string, own = dataDir === DEFAULT_DATA_DIR): StateStore {
  const inDir = <T>(create: boolean, fn: (d: SafeDir) => T): T | undefined => {
    // Our default directory: a link planted at it is replaced, not followed (a configured one is the operator's).
    const d = SafeDir.openState(dataDir, own, { create, mode: 0o700 });
    if (!d) return undefined;
    try {
      return fn(d);
    } finally {
      d.close();
    }
  };
  return {
    read(name) {
      let text: string | undefined;
      try {
        text = inDir(false, (d) => d.readText(name, MAX_STATE_FILE));
      } catch (e) {
        throw new StateFileError(name, e instanceof UnsafePathError ? e.why : (e as Error).message);
      }
      return text === undefined ? undefined : decodeRecord(name, text);
    },
    write(name, record) {
      try {
        inDir(true, (d) => {
          // A directory where the record goes cannot be renamed over: an empty one is removed.
          if (d.lstat(name)?.isDirectory() && !d.remove(name))
            throw new UnsafePathError(d.show(name), 'is a directory that is not empty');
          d.write(name, encodeRecord(record), 0o600);
        });
      } catch (e) {
        throw new Error(`failed to save tuning state ${join(dataDir, name)}: ${(e as Error).message}`);
      }
    },
    remove(name) {
      inDir(false, (d) => {
        if (!d.remove(name) && d.lstat(name))
          warn(`tuning state ${join(dataDir, name)} is a directory that is not empty; left`);
      });
    },
    names() {
      return inDir(false, (d) => d.list().filter((f) => f.endsWith('.json') && !f.startsWith('.'))) ?? [];
    },
  };
}

/** An in-memory store (unit tests). */
export function memoryStore(initial: Record<string, string> = {}): StateStore & { files: Map<string, string> } {
  const files = new Map(Object.entries(initial));
  return {
    files,
    read: (name) => {
      const text = files.get(name);
      return text === undefined ? undefined : decodeRecord(name, text);
    },
    write: (name, record) => void files.set(name, encodeRecord(record)),
    remove: (name) => void files.delete(name),
    names: () => [...files.keys()],
  };
}
