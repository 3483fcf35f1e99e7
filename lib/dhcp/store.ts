/**
 * The daemon's lease records on disk, so a restarted daemon goes on renewing what the last one
 * held (the reference keeps them in memory only and loses them: upstream #235, #767). One file
 * per lease, `<stateDir>/<sha256 of the client ID>.json`, written whole to a temp file, fsynced
 * and renamed into place, so a kill at any moment leaves the old record or the new one. Files are
 * read as hostile: no symlinks followed, strict shape, size-limited; a bad one is skipped.
 */
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { randomBytes, sha256hex } from '../sys/hash';
import type { LeaseOptions } from './options';
import type { Attachment } from './protocol';
import type { NetnsId } from './packet-socket';

export const DEFAULT_STATE_DIR = '/run/cni/dhcp';
const MAX_RECORD = 64 * 1024;
const RECORD_VERSION = 1;

export interface LeaseRecord {
  version: number;
  clientId: string;
  attachment: Attachment;
  /** The namespace path the daemon uses (its -hostprefix included) and its identity at ADD. */
  netns: string;
  netnsId: NetnsId;
  options: LeaseOptions;
  priority: number;
  /** The last DHCPACK, base64, and when it came (ms since the epoch). */
  ack: string;
  ackAt: number;
  /** The link-layer address the ACK came from (hex, colon-separated). */
  serverMac: string;
  /** 'bound' while maintained; 'ended' once the lease ran out or the server refused it. */
  state: 'bound' | 'ended';
}

export class LeaseStore {
  constructor(readonly dir: string) {}

  fileOf(clientId: string): string {
    return join(this.dir, `${sha256hex(clientId)}.json`);
  }

  /** Creates the directory (0700) unless it exists; refuses one that is a symlink or not a directory. */
  ensureDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(this.dir);
    if (!st.isDirectory()) throw new Error(`state directory ${this.dir} is not a directory`);
  }

  save(rec: LeaseRecord): void {
    this.ensureDir();
    const final = this.fileOf(rec.clientId);
    const temp = join(this.dir, `.${randomBytes(6).toString('hex')}.tmp`);
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      const data = Buffer.from(JSON.stringify(rec) + '\n');
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off);
      fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      unlinkSync(temp);
      throw e;
    }
    closeSync(fd);
    renameSync(temp, final);
    syncDir(this.dir);
  }

  remove(clientId: string): void {
    try {
      unlinkSync(this.fileOf(clientId));
      syncDir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  /** Every readable record; what cannot be used is reported through `skip` and left alone. */
  loadAll(skip: (file: string, why: string) => void): LeaseRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: LeaseRecord[] = [];
    for (const name of names.sort()) {
      if (name.startsWith('.') && name.endsWith('.tmp')) {
        // A temp file of a write that was killed half-way: the record it replaced is intact.
        tryUnlink(join(this.dir, name));
        continue;
      }
      if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
      const file = join(this.dir, name);
      try {
        const rec = parseRecord(readSmall(file));
        if (this.fileOf(rec.clientId) !== file) throw new Error('its name does not match its client ID');
        out.push(rec);
      } catch (e) {
        skip(file, (e as Error).message);
      }
    }
    return out;
  }
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* gone already */
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readSmall(file: string): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_RECORD) throw new Error(`${st.size} bytes is too large for a lease record`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A record read back, checked field by field. */
export function parseRecord(text: string): LeaseRecord {
  const r = JSON.parse(text) as Record<string, unknown>;
  const bad = (what: string): never => {
    throw new Error(`invalid lease record: ${what}`);
  };
  if (typeof r !== 'object' || r === null) bad('not an object');
  if (r['version'] !== RECORD_VERSION) bad(`version ${String(r['version'])}`);
  const a = r['attachment'] as Record<string, unknown> | undefined;
  if (!a || !isStr(a['containerId']) || !isStr(a['networkName']) || !isStr(a['ifName'])) bad('attachment');
  const id = r['netnsId'] as Record<string, unknown> | undefined;
  if (!id || !isNum(id['dev']) || !isNum(id['ino'])) bad('netnsId');
  const o = r['options'] as Record<string, unknown> | undefined;
  const provide = o?.['provide'];
  const request = o?.['request'];
  if (
    !Array.isArray(provide) ||
    !provide.every((p) => Array.isArray(p) && p.length === 2 && isNum(p[0]) && p[0] >= 0 && p[0] <= 255 && isStr(p[1]))
  )
    bad('options.provide');
  if (!Array.isArray(request) || !request.every((c) => isNum(c) && c >= 0 && c <= 255)) bad('options.request');
  for (const k of ['clientId', 'netns', 'ack', 'serverMac'] as const) if (!isStr(r[k])) bad(k);
  if (!isNum(r['priority']) || !isNum(r['ackAt'])) bad('priority/ackAt');
  if (r['state'] !== 'bound' && r['state'] !== 'ended') bad('state');
  if (!(r['netns'] as string).startsWith('/')) bad('netns is not absolute');
  return r as unknown as LeaseRecord;
}
