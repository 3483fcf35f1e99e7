/**
 * `tscni`: cnitool's commands and environment on top of lib/runtime, and `reload`, `gc` and `install`
 * (USAGE below). Arguments are parsed by node:util's parseArgs (lib/argv.ts); `--help` prints the
 * usage and exits 0, bad usage exits 2, a failed command 1.
 */
import { sha512hex } from '../lib/sys/hash';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  statusNetworkList,
  type RuntimeConf,
  type RuntimeOptions,
} from '../lib/runtime/chain';
import { loadNetwork } from '../lib/runtime/config';
import { defaultRunner } from '../lib/exec/real';
import { runDirOf } from '../lib/state/run-dir';
import { reload } from '../lib/reload/reload';
import { parseArgv, UsageError } from '../lib/argv';
import { writeAll } from '../lib/stdio';
import type { GcOptions } from '../lib/gc/gc';
import { criSocketPath, DEFAULT_CRI_SOCKETS } from '../lib/gc/runtimes';
import { WAKE_NAMES, type WakeName } from '../lib/reload/watch';
import { IPTABLES_MODES_DIR, isIptablesMode, type IptablesMode } from '../lib/deploy/iptables-mode';
import { useIptablesMode, useNodeIptables } from './iptables';
import { lookupReloader, PLUGIN_NAMES } from '../plugins/registry';

const USAGE = `usage: tscni {add|check|del} <network-name> <netns> [-i|--ifname NAME]
       tscni status <network-name>
       tscni gc [options] [network...]         (tscni gc --help)
       tscni reload [options] [network...]     (tscni reload --help)
       tscni install [options]                 (tscni install --help)
       tscni plugins                           the plugins this executable contains
Env: NETCONFPATH (/etc/cni/net.d), CNI_PATH, CNI_ARGS, CAP_ARGS (JSON), CNI_IFNAME (eth0),
     CNI_CACHE_DIR (/var/lib/cni), TSCNI_RUN_DIR (/run/tscni).`;

const RELOAD_USAGE = `usage: tscni reload [options] [network...]
Puts back the firewall rules of running containers (of every network, or those named).
  -n, --dry-run          list what is broken; change nothing
  --cache-dir DIR        libcni's result cache (CNI_CACHE_DIR, else /var/lib/cni)
  --netconf-path DIR     the network configs (NETCONFPATH, else /etc/cni/net.d)
  --run-dir DIR          teardown marks and locks (TSCNI_RUN_DIR, else /run/tscni)
  -w, --watch            stay running: restore after every nftables change notice or
                         firewalld reload, and on a periodic full check
  --interval S           watch: the full check's period in seconds (60; 0 = never)
  --debounce MS          watch: a pass starts once wakes were quiet this long (100)
  --wake LIST            watch: wake sources, of nftables,firewalld (both; '' = the clock alone)
  --gc-interval S        watch: run \`tscni gc\` every S seconds (0 = off, the default)
  --iptables MODE        in the installer image: its iptables-nft (nft) or iptables-legacy
                         (legacy), or the node's (auto: kubelet's hint chain, else the mode
                         with rules; with none, iptables is left out); default: PATH's
  -h, --help             this text`;

const GC_USAGE = `usage: tscni gc [options] [network...]
Finds attachments (libcni's cache, host-local leases) whose container no longer exists and
cleans them with the network's DEL, as the runtime would have. Every network, or those named.
  -n, --dry-run          list what would be collected (gone) and kept; change nothing
  --min-age S            younger attachments are not collected on a runtime's word or an
                         address scan alone (60)
  --cri-socket PATH      a CRI runtime to ask (ListPodSandbox); repeatable (default:
                         ${DEFAULT_CRI_SOCKETS.join(', ')}, those that exist)
  --no-runtimes          ask no runtime (CRI, podman): judge from the disk and the netns alone
  --cache-dir DIR        libcni's result cache (CNI_CACHE_DIR, else /var/lib/cni)
  --netconf-path DIR     the network configs (NETCONFPATH, else /etc/cni/net.d)
  -h, --help             this text
Env: CNI_PATH (/opt/cni/bin), where the plugins for the DELs are.`;

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/** cnitool's CNI_ARGS rules: every pair exactly k=v with both sides non-empty. */
function cniArgsPairs(raw: string): Array<[string, string]> {
  if (!raw) return [];
  return raw.split(';').map((pair) => {
    const kv = pair.split('=');
    if (kv.length !== 2 || !kv[0] || !kv[1]) throw new Error(`invalid CNI_ARGS pair "${pair}"`);
    return [kv[0], kv[1]];
  });
}

/** A non-negative number (of seconds, or of milliseconds for --debounce). */
function nonNegative(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new UsageError(`--${name} needs a number ≥ 0, not ${JSON.stringify(v)}`);
  return n;
}

/** `--wake nftables,firewalld`: the watcher's wake sources ('' for the periodic check alone). */
function wakeNames(v: string | undefined): WakeName[] {
  if (v === undefined) return [...WAKE_NAMES];
  const names = v.split(',').filter((n) => n !== '');
  for (const n of names)
    if (!(WAKE_NAMES as readonly string[]).includes(n))
      throw new UsageError(`--wake takes ${WAKE_NAMES.join(', ')}, not ${JSON.stringify(n)}`);
  return names as WakeName[];
}

const cacheDirOf = (v: string | undefined): string => resolve(v ?? (process.env['CNI_CACHE_DIR'] || '/var/lib/cni'));
const netconfPathOf = (v: string | undefined): string => resolve(v ?? (process.env['NETCONFPATH'] || '/etc/cni/net.d'));

function gcOptions(o: {
  cacheDir: string;
  netconfPath: string;
  networks: string[];
  dryRun: boolean;
  minAgeS: number;
  criSockets: string[];
  runtimes: boolean;
}): GcOptions {
  return {
    cacheDir: o.cacheDir,
    netconfPath: o.netconfPath,
    cniPath: (process.env['CNI_PATH'] || '/opt/cni/bin').split(':').filter(Boolean),
    networks: o.networks,
    dryRun: o.dryRun,
    minAgeMs: o.minAgeS * 1000,
    criSockets: o.runtimes ? (o.criSockets.length > 0 ? o.criSockets : DEFAULT_CRI_SOCKETS) : [],
    askPodman: o.runtimes,
    env: process.env,
    runner: defaultRunner(),
    log: (l) => writeAll(2, `tscni gc: ${l}\n`),
  };
}

/** `--iptables`: which of the installer image's iptables modes, or `auto` (lib/deploy/iptables-mode.ts). */
function iptablesChoice(v: string | undefined): IptablesMode | 'auto' | undefined {
  if (v === undefined) return undefined;
  if (v !== 'auto' && !isIptablesMode(v))
    throw new UsageError(`--iptables takes auto, nft or legacy, not ${JSON.stringify(v)}`);
  if (!existsSync(IPTABLES_MODES_DIR))
    throw new Error(
      `--iptables: no ${IPTABLES_MODES_DIR} here (the installer image's iptables); on a node, leave it out`,
    );
  return v;
}

/** `tscni reload`: see lib/reload/reload.ts; with --watch, cmd/watch.ts. Exit code 1 when a restore failed. */
async function reloadCommand(argv: string[]): Promise<void> {
  const { values: v, positionals: networks } = usage(RELOAD_USAGE, () =>
    parseArgv(
      argv,
      {
        ...HELP,
        'dry-run': { type: 'boolean', short: 'n' },
        'cache-dir': { type: 'string' },
        'netconf-path': { type: 'string' },
        'run-dir': { type: 'string' },
        watch: { type: 'boolean', short: 'w' },
        interval: { type: 'string' },
        debounce: { type: 'string' },
        wake: { type: 'string' },
        'gc-interval': { type: 'string' },
        iptables: { type: 'string' },
      },
      true,
    ),
  );
  if (v.help) return writeAll(1, RELOAD_USAGE + '\n');
  const iptables = iptablesChoice(v.iptables);
  if (iptables !== undefined && iptables !== 'auto') useIptablesMode(iptables);
  const dryRun = v['dry-run'] ?? false;
  const base = {
    cacheDir: cacheDirOf(v['cache-dir']),
    netconfPath: netconfPathOf(v['netconf-path']),
    runDir: resolve(v['run-dir'] ?? runDirOf(process.env)),
    dryRun,
    networks,
    env: process.env,
    runner: defaultRunner(),
    reloaders: lookupReloader,
  };
  const intervalS = nonNegative('interval', v.interval, 60);
  const gcIntervalS = nonNegative('gc-interval', v['gc-interval'], 0);
  const debounceMs = nonNegative('debounce', v.debounce, 100);
  const wake = wakeNames(v.wake);
  if (v.watch) {
    if (dryRun) throw new UsageError(`--watch restores; it takes no --dry-run\n${RELOAD_USAGE}`);
    const { watchMain } = await import('./watch');
    return watchMain({
      reload: base,
      intervalMs: intervalS * 1000,
      gcIntervalMs: gcIntervalS * 1000,
      quietMs: debounceMs,
      maxDelayMs: Math.max(debounceMs, 500),
      wake,
      iptablesAuto: iptables === 'auto',
      gc: gcOptions({ ...base, minAgeS: 60, criSockets: [], runtimes: true }),
    });
  }
  if (iptables === 'auto') {
    const d = await useNodeIptables(base.runner);
    writeAll(2, `tscni reload: iptables: ${d.mode ? `iptables-${d.mode}` : 'left out'} (${d.why})\n`);
  }
  for (const o of ['interval', 'debounce', 'wake', 'gc-interval'] as const)
    if (v[o] !== undefined) throw new UsageError(`--${o} goes with --watch\n${RELOAD_USAGE}`);
  const outcomes = await reload(base);
  const count = new Map<string, number>();
  for (const o of outcomes) {
    count.set(o.state, (count.get(o.state) ?? 0) + 1);
    writeAll(1, `${o.state.padEnd(8)} ${o.subject} ${o.what}${o.detail ? `: ${o.detail}` : ''}\n`);
  }
  const summary = ['restored', 'intact', 'broken', 'gone', 'skipped', 'failed']
    .map((s) => `${count.get(s) ?? 0} ${s}`)
    .join(', ');
  writeAll(2, `tscni reload${dryRun ? ' (dry run)' : ''}: ${summary}\n`);
  if ((count.get('failed') ?? 0) > 0) process.exitCode = 1;
}

/** `tscni gc`: see lib/gc/gc.ts. Exit code 1 when an attachment could not be collected. */
async function gcCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = usage(GC_USAGE, () =>
    parseArgv(
      argv,
      {
        ...HELP,
        'dry-run': { type: 'boolean', short: 'n' },
        'min-age': { type: 'string' },
        'cri-socket': { type: 'string', multiple: true },
        'no-runtimes': { type: 'boolean' },
        'cache-dir': { type: 'string' },
        'netconf-path': { type: 'string' },
      },
      true,
    ),
  );
  if (v.help) return writeAll(1, GC_USAGE + '\n');
  const dryRun = v['dry-run'] ?? false;
  // cnitool's `gc <network> <netns>`: a netns path says nothing here (gc judges every attachment).
  const networks = positionals.filter((p) => !p.startsWith('/'));
  const { gc } = await import('../lib/gc/gc');
  const outcomes = await gc(
    gcOptions({
      cacheDir: cacheDirOf(v['cache-dir']),
      netconfPath: netconfPathOf(v['netconf-path']),
      networks,
      dryRun,
      minAgeS: nonNegative('min-age', v['min-age'], 60),
      criSockets: (v['cri-socket'] ?? []).map(criSocketPath),
      runtimes: !(v['no-runtimes'] ?? false),
    }),
  );
  const count = new Map<string, number>();
  for (const o of outcomes) {
    count.set(o.state, (count.get(o.state) ?? 0) + 1);
    writeAll(1, `${o.state.padEnd(9)} ${o.subject}: ${o.detail}\n`);
  }
  const states = dryRun ? ['gone', 'kept', 'failed'] : ['collected', 'kept', 'failed'];
  writeAll(2, `tscni gc${dryRun ? ' (dry run)' : ''}: ${states.map((s) => `${count.get(s) ?? 0} ${s}`).join(', ')}\n`);
  if ((count.get('failed') ?? 0) > 0) process.exitCode = 1;
}

/** Runs parse; a usage error gets the command's usage text appended. */
function usage<T>(text: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`${e.message}\n${text}`);
    throw e;
  }
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'reload') return reloadCommand(argv.slice(1));
  if (argv[0] === 'gc') return gcCommand(argv.slice(1));
  if (argv[0] === 'help') return writeAll(1, USAGE + '\n');
  const { values: v, positionals } = usage(USAGE, () =>
    parseArgv(argv, { ...HELP, ifname: { type: 'string', short: 'i' } }, true),
  );
  if (v.help) return writeAll(1, USAGE + '\n');
  const [cmd, net, netnsArg, extra] = positionals;
  if (cmd === undefined) throw new UsageError(USAGE);
  if (!['add', 'check', 'del', 'status'].includes(cmd))
    throw new UsageError(`unknown command ${JSON.stringify(cmd)}\n${USAGE}`);
  const attach = cmd === 'add' || cmd === 'check' || cmd === 'del';
  if (!net || (attach && !netnsArg)) throw new UsageError(`tscni ${cmd}: missing arguments\n${USAGE}`);
  if (extra !== undefined || (!attach && netnsArg !== undefined))
    throw new UsageError(`tscni ${cmd}: unexpected argument ${JSON.stringify(extra ?? netnsArg)}\n${USAGE}`);
  const ifName = v.ifname ?? (process.env['CNI_IFNAME'] || 'eth0');
  const list = loadNetwork(process.env['NETCONFPATH'] || '/etc/cni/net.d', net);
  const opts: RuntimeOptions = {
    cniPath: (process.env['CNI_PATH'] ?? '').split(':').filter(Boolean),
    cacheDir: process.env['CNI_CACHE_DIR'] || '/var/lib/cni',
  };
  const netns = netnsArg ? resolve(netnsArg) : '';
  const rt: RuntimeConf = {
    containerId: `cnitool-${sha512hex(netns).slice(0, 20)}`,
    netns,
    ifName,
    args: cniArgsPairs(process.env['CNI_ARGS'] ?? ''),
    capabilityArgs: process.env['CAP_ARGS'] ? (JSON.parse(process.env['CAP_ARGS']) as Record<string, unknown>) : {},
  };
  switch (cmd) {
    case 'add':
      writeAll(1, JSON.stringify(await addNetworkList(list, rt, opts), null, 4) + '\n');
      return;
    case 'del':
      return delNetworkList(list, rt, opts);
    case 'check':
      return checkNetworkList(list, rt, opts);
    case 'status':
      return statusNetworkList(list, opts);
  }
}

/** Runs one CLI command; errors go to stderr, with exit code 2 for bad usage and 1 otherwise. */
export async function cliMain(argv: string[]): Promise<void> {
  if (argv[0] === 'install') return (await import('../lib/deploy/install')).installMain(argv.slice(1), PLUGIN_NAMES);
  try {
    await main(argv);
  } catch (e: unknown) {
    writeAll(2, `${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  }
}
