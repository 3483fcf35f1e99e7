/**
 * A network's resolver, as the dnsname verbs share it: one dnsmasq per network, its files in the
 * network's state directory (lib/dns/paths.ts, containers/dnsname's layout), every change under one
 * `flock` on that directory (the lock the reference takes, so the two exclude each other).
 *
 * Crash safety: every file is replaced atomically (temp file, rename), dnsmasq is found again
 * from its pid file and checked to be the dnsmasq of this directory (its command line), and every
 * verb converges on what the hosts file says — so a plugin killed at any point leaves a state the
 * next ADD, CHECK, DEL or GC finishes: a name written but not loaded is loaded (SIGHUP), a resolver
 * that died is started again, an empty network's resolver is stopped, and the address dnsname put
 * on an internal network's bridge (written to its record first) is removed with it.
 */
import {
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
import {
  CONF_FILE,
  GATEWAY_FILE,
  HOSTS_FILE,
  PID_FILE,
  readGatewayRecord,
  readPlainFile,
  type GatewayRecord,
} from '../../lib/dns/paths';
import { upstreamServers } from '../../lib/dns/upstream';
import type { Runner } from '../../lib/exec/runner';
import { isValidLinkName } from '../../lib/cni/names';
import { debug } from '../../lib/log';
import { bridgeIsInternal } from '../../lib/net/internal';
import { openRtnl } from '../../lib/net/rtnl';
import { available, libc, LOCK_EX } from '../../lib/sys/libc';
import { errnoNumber } from '../../lib/sys/errno';

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

/** Runs fn holding the network's lock (flock on its directory, created 0700 when missing). */
export async function withNetworkLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (!lstatSync(dir).isDirectory())
      throw new CniError(ErrorCode.IOFailure, `dnsname state ${dir} is not a directory`, 'refusing to follow it');
    const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      if (available()) {
        const c = libc();
        for (let tries = 0; c.flock(fd, LOCK_EX) !== 0; tries++)
          if (c.errno() !== errnoNumber('EINTR') || tries > 100)
            throw new CniError(ErrorCode.TryAgainLater, `cannot lock ${dir}`, `errno ${c.errno()}`);
      }
      // The last DEL of a network removes its directory while holding the lock: a waiter that
      // then gets the lock of the removed directory starts again with a new one.
      let same = false;
      try {
        same = lstatSync(dir).ino === fstatSync(fd).ino;
      } catch {
        same = false;
      }
      if (same) return await fn();
      if (attempt > 20) throw new CniError(ErrorCode.TryAgainLater, `dnsname state ${dir} keeps changing`);
    } finally {
      closeSync(fd);
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

async function startDnsmasq(runner: Runner, dir: string): Promise<void> {
  // The reference's command line, so each implementation recognises the other's instance.
  // dnsmasq forks; the parent exits once the daemon has bound its sockets (or with its error).
  const r = await runner.run({
    tool: 'dnsmasq',
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

/** Stops this directory's dnsmasq (TERM, then KILL) and waits until it is gone. */
export async function stopDnsmasq(dir: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const pid = runningPid(dir);
    if (pid === undefined) return;
    try {
      process.kill(pid, i < 200 ? 'SIGTERM' : 'SIGKILL');
    } catch {
      return; // gone meanwhile
    }
    await sleep(i < 20 ? 5 : 20);
  }
  throw new CniError(ErrorCode.TryAgainLater, `dnsmasq of ${dir} did not stop`);
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
  const own = readGatewayRecord(dir);
  const rtnl = openRtnl();
  let internal: boolean;
  try {
    internal = bridgeIsInternal(rtnl, facts.bridge, facts.cidrs, own?.bridge === facts.bridge ? own.addresses : []);
    if (internal) {
      // The host is not this network's gateway, so nothing on the bridge is reachable from the
      // containers: the resolver gets the gateway address (recorded before it is added).
      const have = new Set(rtnl.addrs({ index: rtnl.linkByName(facts.bridge)?.index ?? 0 }).map((a) => a.cidr));
      const record: GatewayRecord = {
        bridge: facts.bridge,
        addresses: [...new Set([...(own?.bridge === facts.bridge ? own.addresses : []), ...facts.gateways])],
      };
      writeAtomic(dir, GATEWAY_FILE, JSON.stringify(record) + '\n');
      const link = rtnl.linkByName(facts.bridge);
      if (link)
        for (const gw of facts.gateways) if (!have.has(gw)) rtnl.addAddr(link.index, gw, { nodad: gw.includes(':') });
    }
  } finally {
    rtnl.close();
  }
  const conf = renderDnsmasqConf({ dir, bridge: facts.bridge, domain: want.domain, forward: !internal });
  const confChanged = readPlainFile(join(dir, CONF_FILE)) !== conf;
  if (!internal) {
    const upstreams = renderUpstreams(upstreamServers());
    if (readPlainFile(join(dir, UPSTREAM_FILE)) !== upstreams) writeAtomic(dir, UPSTREAM_FILE, upstreams);
  }
  if (confChanged) writeAtomic(dir, CONF_FILE, conf);
  let pid = runningPid(dir);
  if (pid !== undefined && confChanged) {
    await stopDnsmasq(dir);
    pid = undefined;
  }
  if (pid === undefined) await startDnsmasq(runner, dir);
  else process.kill(pid, 'SIGHUP');
  return facts.gateways.map(addressOf);
}

/** The last container went: dnsmasq stopped, dnsname's bridge address removed, the directory removed. */
export async function teardownResolver(dir: string): Promise<void> {
  await stopDnsmasq(dir);
  const own = readGatewayRecord(dir);
  if (own && isValidLinkName(own.bridge) && available()) {
    const rtnl = openRtnl();
    try {
      const link = rtnl.linkByName(own.bridge);
      const have = new Set(link ? rtnl.addrs({ index: link.index }).map((a) => a.cidr) : []);
      for (const a of own.addresses) if (link && have.has(a)) rtnl.deleteAddr(link.index, a);
    } finally {
      rtnl.close();
    }
  }
  // rm of a directory removes symlinks in it, never what they point to.
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Waits until the resolver answers `name` (A or AAAA) as wanted: with every one of `ips`
 * (`present`), or with none of them. dnsmasq reloads its hosts file asynchronously after SIGHUP;
 * this makes "resolves when ADD returns, gone when DEL returns" true.
 */
export async function awaitAnswers(
  servers: readonly string[],
  name: string,
  ips: readonly string[],
  present: boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const server = servers.find((s) => !s.includes(':')) ?? servers[0];
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
