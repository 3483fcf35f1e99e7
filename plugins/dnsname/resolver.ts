/**
 * A network's resolver, as the dnsname verbs share it: one dnsmasq per network, its files in the
 * network's state directory (lib/dns/paths.ts, containers/dnsname's layout), every change under one
 * `flock` on the file `lock` there (the lock the reference takes, so the two exclude each other).
 *
 * Crash safety: every file is replaced atomically (temp file, rename), dnsmasq is found again
 * from its pid file and checked to be the dnsmasq of this directory (its command line), and every
 * verb converges on what the hosts file says — so a plugin killed at any point leaves a state the
 * next ADD, CHECK, DEL or GC finishes: a name written but not loaded is loaded (SIGHUP), a resolver
 * that died is started again, an empty network's resolver is stopped, and the address dnsname put
 * on an internal network's bridge (written to its record first) is removed with it.
 */
import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { formatCIDR, formatIP, networkOf, parseCIDR, parseIP, sameAddr } from '../../lib/addr/ip';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import type { Result } from '../../lib/cni/result/types';
import { renderDnsmasqConf, renderUpstreams, UPSTREAM_FILE } from '../../lib/dns/dnsmasq';
import { formatHosts, parseHosts, type HostLine } from '../../lib/dns/hosts';
import { CONF_FILE, GATEWAY_FILE, HOSTS_FILE, LOCK_FILE, PID_FILE, readPlainFile } from '../../lib/dns/paths';
import { upstreamServers } from '../../lib/dns/upstream';
import type { Runner } from '../../lib/exec/runner';
import { isValidLinkName } from '../../lib/cni/names';
import { debug } from '../../lib/log';
import { available, libc, LOCK_EX } from '../../lib/sys/libc';
import { errnoNumber } from '../../lib/sys/errno';
import { watchReads, type ReadWatch } from '../../lib/sys/inotify';
import { watchExit } from '../../lib/sys/pidfd';

/** What the verbs take from prevResult. */
export interface NetworkFacts {
  readonly bridge: string;
  /** The resolver's addresses: the gateway of each of the container's subnets, as CIDRs. */
  readonly gateways: readonly string[];
  /** The container's addresses (its sandbox interfaces'). */
  readonly ips: readonly string[];
  /** The container's addresses with their prefixes. */
  readonly cidrs: readonly string[];
}

export function factsOf(prev: Result): NetworkFacts {
  const bridge = prev.interfaces?.[0]?.name ?? '';
  if (!bridge || !isValidLinkName(bridge))
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      'dnsname needs the bridge as the first interface of prevResult',
      'chain dnsname after the bridge plugin',
    );
  const ifaces = prev.interfaces ?? [];
  const all = prev.ips ?? [];
  // As the reference: one address is the container's; with several, those of sandbox interfaces.
  const mine =
    all.length === 1 ? all : all.filter((ip) => ip.interface !== undefined && !!ifaces[ip.interface]?.sandbox);
  const ips: string[] = [];
  const cidrs: string[] = [];
  const gateways: string[] = [];
  for (const ip of mine) {
    const c = parseCIDR(ip.address);
    if (!c) continue;
    ips.push(formatIP(c.addr));
    cidrs.push(formatCIDR(c.addr, c.prefix));
    const gw = ip.gateway ? parseIP(ip.gateway) : undefined;
    if (gw && gw.family === c.addr.family && sameAddr(networkOf(gw, c.prefix), networkOf(c.addr, c.prefix)))
      gateways.push(formatCIDR(gw, c.prefix));
  }
  if (ips.length === 0) throw new CniError(ErrorCode.InvalidNetworkConfig, 'no ip address was found in the network');
  return { bridge, gateways: [...new Set(gateways)], ips, cidrs };
}

const addressOf = (cidr: string): string => cidr.slice(0, cidr.indexOf('/'));

// ---------------------------------------------------------------------------------------------
// The lock

/**
 * Runs fn holding the network's lock: flock on `<dir>/lock`, the file containers/dnsname locks
 * (its lock helper, given a directory, locks the file `lock` in it), so the two implementations
 * exclude each other. The directory is created 0700 when missing and opened without following
 * a symlink; the lock file is opened through that descriptor (/proc/self/fd), O_NOFOLLOW.
 */
export async function withNetworkLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let dirFd: number;
    try {
      dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && attempt < 20) continue; // removed by a last DEL meanwhile
      throw new CniError(
        ErrorCode.IOFailure,
        `dnsname state ${dir} is not a directory`,
        `refusing to follow it (${code})`,
      );
    }
    let lockFd: number | undefined;
    try {
      lockFd = openSync(
        `/proc/self/fd/${dirFd}/${LOCK_FILE}`,
        // A FIFO or device planted there opens without blocking or side effects, then is refused.
        constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY,
        0o600,
      );
      if (!fstatSync(lockFd).isFile())
        throw new CniError(ErrorCode.IOFailure, `dnsname lock ${join(dir, LOCK_FILE)} is not a file`);
      if (available()) {
        const c = libc();
        for (let tries = 0; c.flock(lockFd, LOCK_EX) !== 0; tries++)
          if (c.errno() !== errnoNumber('EINTR') || tries > 100)
            throw new CniError(ErrorCode.TryAgainLater, `cannot lock ${dir}`, `errno ${c.errno()}`);
      }
      // The last DEL of a network (ours or the reference's) removes its directory while holding
      // the lock: a waiter that then gets the lock of the removed one starts again.
      let same = false;
      try {
        same =
          lstatSync(dir).ino === fstatSync(dirFd).ino && lstatSync(join(dir, LOCK_FILE)).ino === fstatSync(lockFd).ino;
      } catch {
        same = false;
      }
      if (same) return await fn();
      if (attempt > 20) throw new CniError(ErrorCode.TryAgainLater, `dnsname state ${dir} keeps changing`);
    } finally {
      if (lockFd !== undefined) closeSync(lockFd);
      closeSync(dirFd);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Files

/** Replaces `name` in `dir` atomically; leftover temp files of killed calls are removed first. */
function writeAtomic(dir: string, name: string, text: string): void {
  for (const f of readdirSync(dir))
    if (f.startsWith(`.${name}.`) && f.endsWith('.tmp')) rmSync(join(dir, f), { force: true });
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  writeFileSync(tmp, text, { mode: 0o644, flag: 'wx' });
  renameSync(tmp, join(dir, name));
}

export const readLines = (dir: string): HostLine[] => parseHosts(readPlainFile(join(dir, HOSTS_FILE)) ?? '');
export const writeLines = (dir: string, lines: readonly HostLine[]): void =>
  writeAtomic(dir, HOSTS_FILE, formatHosts(lines));

// ---------------------------------------------------------------------------------------------
// The dnsmasq process

/** The PID of this directory's running dnsmasq (from its pid file, checked against /proc); undefined when none runs. */
export function runningPid(dir: string): number | undefined {
  const text = readPlainFile(join(dir, PID_FILE), 64);
  const pid = text && /^\s*(\d{1,9})\s*$/.exec(text) ? Number(text.trim()) : 0;
  if (pid <= 1) return undefined;
  try {
    // A zombie (not reaped yet) has an empty command line: not running.
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (basename(argv[0] ?? '') !== 'dnsmasq') return undefined;
    return argv.includes(`--conf-file=${join(dir, CONF_FILE)}`) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** dnsmasq's absolute path from PATH, as the reference finds it (exec.LookPath) and runs it. */
function dnsmasqPath(): string {
  for (const d of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (!d.startsWith('/')) continue;
    try {
      accessSync(join(d, 'dnsmasq'), constants.X_OK);
      return join(d, 'dnsmasq');
    } catch {
      /* next */
    }
  }
  throw new CniError(
    ErrorCode.Internal,
    'unable to locate dnsmasq in path',
    'the dnsname plugin needs dnsmasq (Debian: dnsmasq-base)',
  );
}

async function startDnsmasq(runner: Runner, dir: string): Promise<void> {
  // The reference's command line (the absolute path first), so each implementation recognises
  // the other's instance. dnsmasq forks; the parent exits once the daemon has bound its sockets
  // (or with its error).
  const r = await runner.run({
    tool: 'dnsmasq',
    path: dnsmasqPath(),
    argv: ['-u', 'root', `--conf-file=${join(dir, CONF_FILE)}`],
    allowFailure: true,
    timeoutMs: 10_000,
  });
  if (r.exitCode !== 0)
    throw new CniError(
      ErrorCode.Internal,
      `dnsname error: dnsmasq failed with ${JSON.stringify((r.stderr + r.stdout).trim())}`,
    );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits up to timeoutMs for `pid` to stop being this directory's dnsmasq (fallback without a pidfd). */
async function gone(dir: string, pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (runningPid(dir) === pid) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

/**
 * Stops this directory's dnsmasq (TERM, then KILL) and returns once it is gone: its pidfd is
 * polled (taken before the signal, and the PID checked again after taking it, so it is this
 * dnsmasq's), or, without pidfds, its /proc entry re-read every few ms.
 */
export async function stopDnsmasq(dir: string): Promise<void> {
  for (const [signal, waitMs] of [
    ['SIGTERM', 3_000],
    ['SIGKILL', 5_000],
  ] as const) {
    const pid = runningPid(dir);
    if (pid === undefined) return;
    const watch = watchExit(pid);
    try {
      if (runningPid(dir) !== pid) continue;
      try {
        process.kill(pid, signal);
      } catch {
        continue; // gone meanwhile
      }
      if (watch ? watch.exited(waitMs) : await gone(dir, pid, waitMs)) return;
    } finally {
      watch?.close();
    }
  }
  if (runningPid(dir) !== undefined) throw new CniError(ErrorCode.TryAgainLater, `dnsmasq of ${dir} did not stop`);
}

// ---------------------------------------------------------------------------------------------
// Convergence

export interface Want {
  readonly facts: NetworkFacts;
  readonly domain: string;
}

/**
 * Makes the resolver serve the hosts file: the network's configuration written, an internal
 * network's bridge given the resolver's address, dnsmasq started or told to reload (SIGHUP).
 * Returns the addresses it listens on.
 */
export async function ensureResolver(runner: Runner, dir: string, want: Want): Promise<string[]> {
  const { facts } = want;
  const servers = facts.gateways.map(addressOf);
  // The common case, a container joining a network whose resolver runs with our configuration:
  // whether the network is internal is what that configuration says (no-resolv), and the
  // bridge is not asked again; the upstreams are refreshed and dnsmasq told to reload.
  const pid = runningPid(dir);
  const current = readPlainFile(join(dir, CONF_FILE));
  if (pid !== undefined && current !== undefined) {
    const forward = !/^no-resolv$/m.test(current);
    if (current === renderDnsmasqConf({ dir, bridge: facts.bridge, domain: want.domain, forward })) {
      if (forward) writeUpstreams(dir);
      process.kill(pid, 'SIGHUP');
      return servers;
    }
  }
  const { prepareBridge } = await import('./bridge');
  const internal = prepareBridge(dir, facts, (r) => writeAtomic(dir, GATEWAY_FILE, JSON.stringify(r) + '\n'));
  const conf = renderDnsmasqConf({ dir, bridge: facts.bridge, domain: want.domain, forward: !internal });
  const confChanged = readPlainFile(join(dir, CONF_FILE)) !== conf;
  if (!internal) writeUpstreams(dir);
  if (confChanged) writeAtomic(dir, CONF_FILE, conf);
  let running = runningPid(dir);
  if (running !== undefined && confChanged) {
    await stopDnsmasq(dir);
    running = undefined;
  }
  if (running === undefined) await startDnsmasq(runner, dir);
  else process.kill(running, 'SIGHUP');
  return servers;
}

/** The host's resolvers as dnsmasq's resolv-file, rewritten when they changed (dnsmasq notices by itself). */
function writeUpstreams(dir: string): void {
  const upstreams = renderUpstreams(upstreamServers());
  if (readPlainFile(join(dir, UPSTREAM_FILE)) !== upstreams) writeAtomic(dir, UPSTREAM_FILE, upstreams);
}

/** The last container went: dnsmasq stopped, dnsname's bridge address removed, the directory removed. */
export async function teardownResolver(dir: string): Promise<void> {
  await stopDnsmasq(dir);
  const { releaseBridge } = await import('./bridge');
  releaseBridge(dir);
  // rm of a directory removes symlinks in it, never what they point to.
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Watches the hosts file for dnsmasq's next read of it; taken after the file is written and
 * before the signal or start that makes dnsmasq read it. Undefined without inotify.
 */
export const watchHosts = (dir: string): ReadWatch | undefined => watchReads(join(dir, HOSTS_FILE));

/** What to ask the resolver when there is no inotify watch: `name` with (`present`) or without `ips`. */
export interface Probe {
  readonly servers: readonly string[];
  readonly name: string;
  readonly ips: readonly string[];
  readonly present: boolean;
}

/**
 * Waits until dnsmasq has read the hosts file as written: it reloads asynchronously (after
 * SIGHUP, or at start-up) and answers no query meanwhile, so once it has closed the file every
 * later query sees the new names. This makes "resolves when ADD returns, gone when DEL returns"
 * true. Without a watch the resolver is asked instead (`probe`), until it answers as wanted.
 */
export async function hostsLoaded(
  watch: ReadWatch | undefined,
  probe: Probe | undefined,
  timeoutMs = 10_000,
): Promise<void> {
  if (watch) {
    if (!watch.read(timeoutMs))
      throw new CniError(ErrorCode.TryAgainLater, 'the resolver of this network did not reload its hosts file in time');
    debug('dnsname: the resolver has read its hosts file');
    return;
  }
  if (probe) await awaitAnswers(probe, timeoutMs);
}

/** Asks the resolver for the name until it answers with every one of the addresses (present) or with none. */
async function awaitAnswers(p: Probe, timeoutMs: number): Promise<void> {
  const { name, ips, present } = p;
  const server = p.servers.find((s) => !s.includes(':')) ?? p.servers[0];
  if (!server || ips.length === 0) return;
  const { ask } = await import('../../lib/dns/probe');
  const end = Date.now() + timeoutMs;
  for (const type of ['A', 'AAAA'] as const) {
    const want = ips.filter((ip) => ip.includes(':') === (type === 'AAAA'));
    if (want.length === 0) continue;
    for (let i = 0; ; i++) {
      const a = await ask(server, name, type);
      const got = a?.addresses ?? [];
      if (a && want.every((ip) => got.includes(ip) === present)) break;
      if (Date.now() > end)
        throw new CniError(
          ErrorCode.TryAgainLater,
          `the resolver of this network did not ${present ? 'load' : 'drop'} ${name} in time`,
          `asked ${server} for ${type} ${name}: ${a ? `${a.rcode} [${got.join(' ')}]` : 'no answer'}`,
        );
      await sleep(Math.min(2 + i * 2, 50));
    }
  }
  debug(`dnsname: ${name} ${present ? 'resolves' : 'is gone'} at ${server}`);
}
