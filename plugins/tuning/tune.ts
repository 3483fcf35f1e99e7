/**
 * The work of tuning's verbs, on seams: an Rtnl whose socket lives in the container's namespace,
 * the container's /proc/sys (SysctlFs) and the state store. The verbs run these inside the
 * container's namespace (Kernel.withSysctlsIn), unit tests on a RecordingSocket, a map and a
 * memory store.
 * Everything is synchronous, so a namespace switch never spans an await.
 */
import { CniError, combinedError, ErrorCode, Failures } from '../../lib/cni/errors';
import { warn } from '../../lib/log';
import { isErrno, type Link, type Rtnl } from '../../lib/netlink';
import { changesLink, type TuningConfig } from './config';
import { mergeRecords, StateFileError, type LinkOriginals, type StateRecord, type StateStore } from './state';
import type { SysctlFs } from '../../lib/net/sysctl';
import { checkNamespaced, parseStoredKey, sameSysctlValue } from './sysctl';

export interface TuningDeps {
  readonly rtnl: Rtnl;
  readonly sysctl: SysctlFs;
  readonly store: StateStore;
}

export interface Attachment {
  readonly network: string;
  readonly ifName: string;
  /** The state record's name (recordName(containerId, ifName)). */
  readonly record: string;
}

const internal = (msg: string, e?: unknown): CniError =>
  new CniError(ErrorCode.Internal, e === undefined ? msg : `${msg}: ${(e as Error).message}`);

function containerLink(rtnl: Rtnl, ifName: string): Link {
  const link = rtnl.linkByName(ifName);
  if (!link) throw internal(`failed to get ${JSON.stringify(ifName)}: Link not found`);
  return link;
}

/** The interface attributes ADD is about to change, as they are now. */
function linkOriginals(link: Link, cfg: TuningConfig): LinkOriginals {
  const o: LinkOriginals = {};
  if (cfg.mac !== undefined && link.mac) o.mac = link.mac;
  if (cfg.promisc) o.promisc = link.flags.promisc;
  if (cfg.mtu !== undefined) o.mtu = link.mtu;
  if (cfg.allmulti !== undefined) o.allmulti = link.flags.allmulti;
  if (cfg.txQLen !== undefined) o.txQLen = link.txqlen ?? 0;
  return o;
}

/** One attribute change per request, so an error names the attribute the kernel refused. */
function setAttr(rtnl: Rtnl, link: Link, what: string, change: Parameters<Rtnl['setLink']>[1], value: unknown): void {
  try {
    rtnl.setLink(link.index, change);
  } catch (e) {
    throw internal(`failed to set ${what} of ${link.name} to ${String(value)}`, e);
  }
}

/** Puts back the interface attributes a record holds, in the reference's order; keeps the failures. */
function restoreLink(rtnl: Rtnl, link: Link, r: LinkOriginals, failures: Failures): void {
  const attempt = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      failures.of(`failed to restore ${what}`)(e);
    }
  };
  if (r.mtu) attempt('MTU', () => rtnl.setLink(link.index, { mtu: r.mtu }));
  if (r.mac) attempt('MAC address', () => rtnl.setLink(link.index, { mac: r.mac }));
  if (r.promisc !== undefined) attempt('promiscuous mode', () => rtnl.setLink(link.index, { promisc: r.promisc }));
  if (r.allmulti !== undefined) attempt('all-multicast mode', () => rtnl.setLink(link.index, { allmulti: r.allmulti }));
  if (r.txQLen !== undefined) attempt('transmit queue length', () => rtnl.setLink(link.index, { txqlen: r.txQLen }));
}

function restoreSysctls(fs: SysctlFs, originals: ReadonlyArray<[string, string]>, failures: Failures): void {
  for (const [rel, value] of [...originals].reverse()) {
    const key = parseStoredKey(rel);
    if (!key) {
      failures.of()(internal(`refusing to restore sysctl ${JSON.stringify(rel)}: not a net sysctl`));
      continue;
    }
    if (fs.kind(key.path) !== 'writable') continue; // gone with its interface
    try {
      fs.write(key.path, value);
    } catch (e) {
      failures.of(`failed to restore sysctl ${key.path}`)(e);
    }
  }
}

/**
 * The record of an earlier ADD of this attachment. One that cannot be read (damaged, or a FIFO,
 * a link or a directory where it should be) holds no originals worth keeping: it is replaced,
 * with a warning, instead of blocking every ADD until a DEL.
 */
function readEarlier(store: StateStore, name: string): StateRecord | undefined {
  try {
    return store.read(name);
  } catch (e) {
    if (!(e instanceof StateFileError)) throw e;
    warn(`${e.message}; replacing it`);
    return undefined;
  }
}

/**
 * ADD: validates every sysctl against the kernel, records the originals (before any change, so
 * a crash half-way still leaves DEL what it needs), then sets sysctls and interface attributes.
 * Any failure puts back what was already changed and the previous record. Nothing to change,
 * nothing recorded.
 */
export function applyTuning(d: TuningDeps, cfg: TuningConfig, at: Attachment): void {
  const keys = cfg.sysctls.map((s) => s.key);
  checkNamespaced(d.sysctl, keys);
  const link = changesLink(cfg) ? containerLink(d.rtnl, at.ifName) : undefined;
  if (!link && keys.length === 0) return;
  const linkBefore = link ? linkOriginals(link, cfg) : {};
  const sysctlsBefore = keys.map((k): [string, string] => {
    try {
      return [k.rel, d.sysctl.read(k.path)];
    } catch (e) {
      throw internal(`failed to read sysctl ${k.path}`, e);
    }
  });
  const now: StateRecord = { network: at.network, ...linkBefore };
  if (sysctlsBefore.length) now.sysctls = sysctlsBefore;

  const undo: Array<() => void> = [];
  try {
    const earlier = readEarlier(d.store, at.record);
    d.store.write(at.record, mergeRecords(earlier, now));
    undo.push(() => (earlier ? d.store.write(at.record, earlier) : d.store.remove(at.record)));

    for (const [i, s] of cfg.sysctls.entries()) {
      const original = sysctlsBefore[i]?.[1] ?? '';
      try {
        d.sysctl.write(s.key.path, s.value);
      } catch (e) {
        throw internal(`failed to set sysctl ${s.key.path} to ${JSON.stringify(s.value)}`, e);
      }
      undo.push(() => d.sysctl.write(s.key.path, original));
    }
    if (link) {
      undo.push(() => {
        const failures = new Failures();
        restoreLink(d.rtnl, link, linkBefore, failures);
        failures.throwIfAny();
      });
      if (cfg.mac !== undefined) setAttr(d.rtnl, link, 'MAC address', { mac: cfg.mac }, cfg.mac);
      if (cfg.promisc) setAttr(d.rtnl, link, 'promiscuous mode', { promisc: true }, 'on');
      if (cfg.mtu !== undefined) setAttr(d.rtnl, link, 'MTU', { mtu: cfg.mtu }, cfg.mtu);
      if (cfg.allmulti !== undefined)
        setAttr(d.rtnl, link, 'all-multicast mode', { allmulti: cfg.allmulti }, cfg.allmulti ? 'on' : 'off');
      if (cfg.txQLen !== undefined) setAttr(d.rtnl, link, 'transmit queue length', { txqlen: cfg.txQLen }, cfg.txQLen);
    }
  } catch (e) {
    for (const step of undo.reverse()) {
      try {
        step();
      } catch (u) {
        warn(`rollback: ${(u as Error).message}`);
      }
    }
    throw e;
  }
}

/**
 * DEL: puts back what the record says (the interface, then the sysctls) and removes the record.
 * A missing interface leaves nothing to restore. The failures are returned as one error, not
 * thrown: the record goes either way, as the runtime's DEL must be able to finish.
 */
export function restoreTuning(d: TuningDeps, at: Attachment, record: StateRecord): CniError | undefined {
  const failures = new Failures();
  let link: Link | undefined;
  try {
    link = d.rtnl.linkByName(at.ifName);
  } catch (e) {
    if (!isErrno(e, 'ENODEV')) failures.of(`failed to look up ${at.ifName}`)(e);
  }
  if (link) restoreLink(d.rtnl, link, record, failures);
  restoreSysctls(d.sysctl, record.sysctls ?? [], failures);
  return combinedError(failures.list);
}

/** CHECK: every configured value is what the kernel has now (the reference's messages). */
export function checkTuning(d: Pick<TuningDeps, 'rtnl' | 'sysctl'>, cfg: TuningConfig, ifName: string): void {
  const fail = (msg: string): CniError => new CniError(ErrorCode.Internal, msg);
  for (const s of cfg.sysctls) {
    let current: string;
    try {
      current = d.sysctl.read(s.key.path);
    } catch (e) {
      throw internal(`failed to read sysctl ${s.key.path}`, e);
    }
    if (!sameSysctlValue(s.value, current))
      throw fail(`Error: Tuning configured value of ${s.key.path} is ${s.value}, current value is ${current}`);
  }
  const link = d.rtnl.linkByName(ifName);
  if (!link) throw fail(`Cannot find container link ${ifName}`);
  if (cfg.mac !== undefined && cfg.mac !== link.mac)
    throw fail(`Error: Tuning configured Ethernet of ${ifName} is ${cfg.mac}, current value is ${link.mac ?? ''}`);
  // Only promiscuous mode that was asked for is checked: ADD never turns it off, and a packet
  // capture in the container turns it on.
  if (cfg.promisc && !link.flags.promisc)
    throw fail(`Error: Tuning link ${ifName} configured promisc is true, current value is 0`);
  if (cfg.mtu !== undefined && cfg.mtu !== link.mtu)
    throw fail(`Error: Tuning configured MTU of ${ifName} is ${cfg.mtu}, current value is ${link.mtu}`);
  if (cfg.allmulti !== undefined && cfg.allmulti !== link.flags.allmulti)
    throw fail(
      `Error: Tuning configured all-multicast mode of ${ifName} is ${cfg.allmulti}, current value is ${link.flags.allmulti}`,
    );
  if (cfg.txQLen !== undefined && cfg.txQLen !== link.txqlen)
    throw fail(
      `Error: Tuning configured Transmit Queue Length of ${ifName} is ${cfg.txQLen}, current value is ${link.txqlen ?? 0}`,
    );
}
