/**
 * 802.1Q sub-interfaces (`eth0.10`) that macvlan and ipvlan create on demand as their master and
 * remove when the last container using them goes.
 *
 * Counting. The containers' macvlan/ipvlan links live in the containers' namespaces, where a
 * dump of this namespace cannot see them, so the kernel cannot tell how many users a
 * sub-interface has. Its users are therefore kept in a small state file per sub-interface,
 * `<dir>/<netns inode>-<name>.json`: a *set* of attachments (network, container ID, ifname), so
 * a repeated ADD or DEL counts once. Every read-modify-write of these files happens under one
 * exclusive flock (`<dir>/lock`), and a file is replaced atomically (write, fsync, rename).
 *
 * Ownership. Right after creating a sub-interface we set its alias to `tscni: … (id <token>)`;
 * the state file holds the same random token. Only a link whose alias carries the token of its
 * state file is ever deleted: a sub-interface an operator made, or re-made after ours was
 * removed, is used but never removed, and a state file left over from an earlier link of the
 * same name (or from a dead namespace whose inode was reused) is recognised and reset.
 *
 * Crash safety (the flock is released by the kernel when its holder dies, so the next caller
 * only ever sees one of these states):
 *  - ADD records its attachment before releasing the lock and before creating its own link, so
 *    a concurrent DEL of the last other user sees it and keeps the sub-interface;
 *  - killed between creating the link and setting its alias: the link looks foreign and is
 *    never removed (a leak, never a wrong removal);
 *  - killed after the alias but before the state file: the next ADD adopts the link (our token)
 *    with no users, which is true: the killed ADD never made its own link;
 *  - killed in DEL after the state file lost the last user but before the link was deleted: any
 *    later DEL or GC in this namespace (a runtime retries a failed DEL) deletes sub-interfaces
 *    whose user set is empty.
 * A container whose DEL never comes keeps its entry until GC drops it (the spec's answer to
 * leaked attachments), so the sub-interface stays while the runtime believes it is in use.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CniError, ConfigError, ErrorCode } from '../cni/errors';
import { isValidLinkName } from '../cni/names';
import * as t from '../cni/schema';
import { withFlock } from '../sys/flock';
import { warn } from '../log';
import { isErrno, type Link, type Rtnl } from '../netlink';
import { randomBytes } from '../sys/hash';
import { missingKindText } from './link-kind';
import { netnsInode } from '../sys/netns';
import { SafeDir, UnsafePathError } from '../sys/safe-fs';
import { parseJson } from '../cni/json';

export const VLAN_STATE_DIR = '/var/lib/cni/tscni/vlan';

/**
 * Where the counts live: `$TSCNI_STATE_DIR/vlan` when the caller's environment names another
 * root for tscni's own state (tests give every sandbox its own), else VLAN_STATE_DIR.
 */
export const vlanOptionsFor = (env: Readonly<Record<string, string | undefined>>): VlanOptions =>
  env['TSCNI_STATE_DIR'] ? { dir: join(env['TSCNI_STATE_DIR'], 'vlan') } : {};

export interface VlanSpec {
  readonly parent: string;
  readonly vid: number;
  readonly name: string;
}

/** One container attachment using a sub-interface. */
export interface VlanUser {
  readonly network: string;
  readonly containerId: string;
  readonly ifName: string;
}

export interface VlanOptions {
  /** Where state files and the lock live (tests use a temporary directory). */
  readonly dir?: string;
  /** Names this network namespace in file names; by default its inode. */
  readonly nsKey?: string;
  /** Makes the ownership token (tests pin it). */
  readonly token?: () => string;
  /** Creates the sub-interface; by default an 802.1Q link. Tests of the counting, on kernels without 802.1Q, pass another link type. */
  readonly create?: (host: Rtnl, spec: VlanSpec, parentIndex: number) => void;
}

const ALIAS_PREFIX = 'tscni: VLAN sub-interface for CNI containers, removed with the last one';
const ownerAlias = (token: string): string => `${ALIAS_PREFIX} (id ${token})`;

/** The ownership token in a link's alias, or undefined for a link we did not create. */
export function ownerToken(link: Link): string | undefined {
  if (!link.alias?.startsWith(ALIAS_PREFIX)) return undefined;
  return /\(id ([0-9a-f]+)\)$/.exec(link.alias)?.[1];
}

/**
 * A VLAN spec from parent and ID, checked: the ID is 1–4094 and `<parent>.<id>` a valid link
 * name (at most 15 bytes).
 */
export function vlanSpec(parent: string, vid: number): VlanSpec {
  if (!Number.isInteger(vid) || vid < 1 || vid > 4094)
    throw new ConfigError(`invalid VLAN ID ${vid} (must be between 1 and 4094)`);
  const name = `${parent}.${vid}`;
  if (!isValidLinkName(parent) || !isValidLinkName(name))
    throw new ConfigError(
      `invalid VLAN sub-interface name ${JSON.stringify(name)}`,
      'a link name has 1 to 15 bytes and no "/", ":" or white space',
    );
  return { parent, vid, name };
}

/**
 * `eth0.10` → a spec for VLAN 10 on eth0, undefined when the name has no numeric suffix. An
 * out-of-range ID is an error: such a master can only be a typo.
 */
export function parseVlanName(name: string): VlanSpec | undefined {
  const m = /^(.+)\.(\d{1,5})$/.exec(name);
  if (!m?.[1] || !m[2]) return undefined;
  return vlanSpec(m[1], Number(m[2]));
}

// ---- state files ----

const userDecoder = t.object({ network: t.string, containerId: t.string, ifName: t.string });
const stateDecoder = t.object({
  name: t.string,
  parent: t.string,
  vid: t.int,
  token: t.string,
  users: t.array(userDecoder),
});
type State = t.Decoded<typeof stateDecoder>;

const sameUser = (a: VlanUser, b: VlanUser): boolean =>
  a.network === b.network && a.containerId === b.containerId && a.ifName === b.ifName;

class Store {
  readonly dir: string;
  readonly nsKey: string;

  constructor(opts: VlanOptions) {
    this.dir = opts.dir ?? VLAN_STATE_DIR;
    this.nsKey = opts.nsKey ?? String(netnsInode());
  }

  /** The state file's name (in `dir`); the sub-interface name is checked first. */
  fileName(name: string): string {
    if (!isValidLinkName(name)) throw new Error(`invalid sub-interface name ${JSON.stringify(name)}`);
    return `${this.nsKey}-${name}.json`;
  }

  /**
   * Runs fn in the state directory through safe-fs; undefined when it does not exist. `vlan` is
   * ours below the operator's root: a link planted there is not followed (found by the fuzzer).
   */
  private inDir<T>(create: boolean, fn: (d: SafeDir) => T): T | undefined {
    const d = SafeDir.openChild(this.dir, { create, mode: 0o755 });
    if (!d) return undefined;
    try {
      return fn(d);
    } finally {
      d.close();
    }
  }

  /** Every state file of this namespace. */
  names(): string[] {
    const prefix = `${this.nsKey}-`;
    return (this.inDir(false, (d) => d.list()) ?? [])
      .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
      .map((f) => f.slice(prefix.length, -'.json'.length))
      .filter(isValidLinkName);
  }

  read(name: string): State | undefined {
    const file = join(this.dir, this.fileName(name));
    let text: string | undefined;
    try {
      text = this.inDir(false, (d) => d.readText(this.fileName(name), MAX_STATE_FILE));
    } catch (e) {
      if (!(e instanceof UnsafePathError)) throw e;
      warn(`ignoring ${file}: ${e.why}`);
      return undefined;
    }
    if (text === undefined) return undefined;
    try {
      return t.parseWith(stateDecoder, parseJson(text), 'VLAN state file');
    } catch (e) {
      // Written atomically, so only tampering gets here; the link's alias still says whose it is.
      warn(`ignoring unreadable ${file}: ${(e as Error).message}`);
      return undefined;
    }
  }

  write(s: State): void {
    this.inDir(true, (d) => d.write(this.fileName(s.name), JSON.stringify(s) + '\n', 0o644, { fsync: true }));
  }

  remove(name: string): void {
    this.inDir(false, (d) => d.unlink(this.fileName(name)));
  }

  /** Runs fn under the one lock of the state directory (created on first use, never through a link). */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    const open = (): number => {
      const fd = this.inDir(true, (d) => d.openLockFile('lock', 0o644));
      if (fd === undefined) throw new Error(`${this.dir}: not created`); // create: true makes it
      return fd;
    };
    return withFlock({ path: join(this.dir, 'lock'), name: `the VLAN sub-interface state in ${this.dir}`, open }, fn);
  }
}

/** A state file is a few hundred bytes; anything bigger is not one. */
const MAX_STATE_FILE = 64 * 1024;

// ---- kernel ----

function createVlanLink(host: Rtnl, spec: VlanSpec, parentIndex: number): void {
  try {
    host.createVlan({ name: spec.name, parentIndex, id: spec.vid });
  } catch (e) {
    if (isErrno(e, 'EOPNOTSUPP'))
      throw new CniError(
        ErrorCode.Internal,
        `failed to create VLAN sub-interface ${spec.name}: ${missingKindText('vlan')}`,
        e.message,
      );
    throw new CniError(
      ErrorCode.Internal,
      `failed to create VLAN sub-interface ${spec.name} on ${spec.parent}`,
      e instanceof Error ? e.message : String(e),
    );
  }
}

/** Deletes the state's link if it is still the one we created. */
function removeIfOurs(host: Rtnl, s: State): void {
  const link = host.linkByName(s.name);
  if (!link || ownerToken(link) !== s.token) return;
  try {
    host.deleteLink(link.index);
  } catch (e) {
    if (!isErrno(e, 'ENODEV')) throw e;
  }
}

export interface Acquired {
  readonly link: Link;
  /** True when the sub-interface is ours (then the user is counted). */
  readonly owned: boolean;
  /** True when this call added the user (a rollback must then release it). */
  readonly added: boolean;
}

/**
 * Makes sure the sub-interface of `spec` exists — creating it, up, when missing — and counts
 * `user` among its users when it is ours. A sub-interface someone else made is returned as is.
 */
export function acquireVlan(host: Rtnl, spec: VlanSpec, user: VlanUser, opts: VlanOptions = {}): Promise<Acquired> {
  const store = new Store(opts);
  return store.locked(async () => {
    let state = store.read(spec.name);
    let link = host.linkByName(spec.name);
    if (link) {
      const token = ownerToken(link);
      if (!token) {
        if (state) store.remove(spec.name); // left from an earlier link of ours by that name
        return { link, owned: false, added: false };
      }
      if (!state || state.token !== token) state = { ...spec, token, users: [] };
    } else {
      const parent = host.linkByName(spec.parent);
      if (!parent)
        throw new CniError(
          ErrorCode.Internal,
          `failed to lookup master ${JSON.stringify(spec.name)}: link not found, and its VLAN parent ${JSON.stringify(spec.parent)} does not exist either`,
        );
      const token = opts.token?.() ?? randomBytes(6).toString('hex');
      (opts.create ?? createVlanLink)(host, spec, parent.index);
      link = host.linkByName(spec.name);
      if (!link)
        throw new CniError(ErrorCode.Internal, `VLAN sub-interface ${spec.name} vanished right after its creation`);
      try {
        host.setLink(link.index, { up: true, alias: ownerAlias(token) });
      } catch (e) {
        host.deleteLink(link.index);
        throw e;
      }
      state = { ...spec, token, users: [] };
    }
    const added = !state.users.some((u) => sameUser(u, user));
    if (added) state.users.push({ network: user.network, containerId: user.containerId, ifName: user.ifName });
    try {
      store.write(state);
    } catch (e) {
      if (state.users.length === 1 && added) removeIfOurs(host, state);
      throw new CniError(ErrorCode.IOFailure, `failed to record the users of ${spec.name}`, (e as Error).message);
    }
    return { link: host.linkByIndex(link.index) ?? link, owned: true, added };
  });
}

/**
 * Drops users (those for which `drop` is true) from every sub-interface of this namespace and
 * deletes the sub-interfaces of ours left without users. Returns the names deleted.
 */
function prune(host: Rtnl, drop: (u: VlanUser) => boolean, opts: VlanOptions): Promise<string[]> {
  const store = new Store(opts);
  if (!existsSync(store.dir)) return Promise.resolve([]);
  return store.locked(async () => {
    const removed: string[] = [];
    for (const name of store.names()) {
      const state = store.read(name);
      if (!state) continue;
      const users = state.users.filter((u) => !drop(u));
      if (users.length > 0) {
        if (users.length !== state.users.length) store.write({ ...state, users });
        continue;
      }
      // Nobody left (also after a DEL that died right here last time): the link goes first, so
      // a failure keeps the file and the next DEL or GC tries again.
      removeIfOurs(host, state);
      store.remove(name);
      removed.push(name);
    }
    return removed;
  });
}

/** DEL: `user` stops using any sub-interface; those of ours left unused are deleted. */
export function releaseVlans(host: Rtnl, user: VlanUser, opts: VlanOptions = {}): Promise<string[]> {
  return prune(host, (u) => sameUser(u, user), opts);
}

/** GC: users of `network` for which `keep` is false are dropped; unused sub-interfaces of ours go. */
export function gcVlans(
  host: Rtnl,
  network: string,
  keep: (u: VlanUser) => boolean,
  opts: VlanOptions = {},
): Promise<string[]> {
  return prune(host, (u) => u.network === network && !keep(u), opts);
}

/** The users recorded for a sub-interface (tests and diagnostics). */
export function vlanUsers(name: string, opts: VlanOptions = {}): VlanUser[] {
  const store = new Store(opts);
  return existsSync(store.dir) ? (store.read(name)?.users ?? []) : [];
}
