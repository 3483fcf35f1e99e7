/**
 * `tscni`: cnitool's commands and environment on top of lib/runtime, and `reload` and `install`.
 *   tscni add|check|del|gc|status <network-name> <netns> [-i|--ifname NAME]
 *   tscni install [options]   (lib/deploy/install.ts)
 *   tscni reload [--dry-run] [--cache-dir DIR] [--netconf-path DIR] [--run-dir DIR] [network...]
 * Env: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_ARGS, CAP_ARGS (JSON), CNI_IFNAME
 * (default eth0), and ours: CNI_CACHE_DIR (default /var/lib/cni), TSCNI_RUN_DIR (/run/tscni).
 */
import { sha512hex } from '../lib/sys/hash';
import { resolve } from 'node:path';
import {
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  statusNetworkList,
  type RuntimeConf,
  type RuntimeOptions,
} from '../lib/runtime/chain';
import { loadNetwork } from '../lib/runtime/config';
import { defaultRunner } from '../lib/exec/real';
import { runDirOf } from '../lib/state/run-dir';
import { reload } from '../lib/reload/reload';
import { writeAll } from '../lib/stdio';
import { lookupReloader, PLUGIN_NAMES } from '../plugins/registry';

const USAGE =
  'usage: tscni {add|check|del|gc|status} <network-name> <netns> [-i ifname]\n' +
  '       tscni reload [--dry-run] [--cache-dir DIR] [--netconf-path DIR] [--run-dir DIR] [network...]\n' +
  '       tscni install [options]';

/** cnitool's CNI_ARGS rules: every pair exactly k=v with both sides non-empty. */
function parseArgs(raw: string): Array<[string, string]> {
  if (!raw) return [];
  return raw.split(';').map((pair) => {
    const kv = pair.split('=');
    if (kv.length !== 2 || !kv[0] || !kv[1]) throw new Error(`invalid CNI_ARGS pair "${pair}"`);
    return [kv[0], kv[1]];
  });
}

/** `tscni reload`: see lib/reload/reload.ts. Exit code 1 when a restore failed. */
async function reloadCommand(argv: string[]): Promise<void> {
  let dryRun = false;
  let cacheDir = process.env['CNI_CACHE_DIR'] || '/var/lib/cni';
  let netconfPath = process.env['NETCONFPATH'] || '/etc/cni/net.d';
  let runDir = runDirOf(process.env);
  const networks: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    // `--name VALUE` or `--name=VALUE`.
    const opt = (name: string): string | undefined => {
      if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
      if (a !== name) return undefined;
      const v = argv[++i];
      if (v === undefined) throw new Error(`${name} needs a value\n${USAGE}`);
      return v;
    };
    let v: string | undefined;
    if (a === '--dry-run' || a === '-n') dryRun = true;
    else if ((v = opt('--cache-dir')) !== undefined) cacheDir = v;
    else if ((v = opt('--netconf-path')) !== undefined) netconfPath = v;
    else if ((v = opt('--run-dir')) !== undefined) runDir = v;
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${USAGE}`);
    else networks.push(a);
  }
  const outcomes = await reload({
    cacheDir: resolve(cacheDir),
    netconfPath: resolve(netconfPath),
    runDir: resolve(runDir),
    dryRun,
    networks,
    env: process.env,
    runner: defaultRunner(),
    reloaders: lookupReloader,
  });
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

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'reload') return reloadCommand(argv.slice(1));
  const positional: string[] = [];
  let ifName = process.env['CNI_IFNAME'] || 'eth0';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '-i' || a === '--ifname') ifName = argv[++i] ?? '';
    else if (a.startsWith('--ifname=')) ifName = a.slice(9);
    else positional.push(a);
  }
  const [cmd, net, netnsArg] = positional;
  if (!cmd || !net || (cmd !== 'gc' && cmd !== 'status' && !netnsArg)) throw new Error(USAGE);
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
    args: parseArgs(process.env['CNI_ARGS'] ?? ''),
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
    case 'gc':
      return gcNetworkList(list, undefined, opts);
    case 'status':
      return statusNetworkList(list, opts);
    default:
      throw new Error(USAGE);
  }
}

/** Runs one CLI command; errors go to stderr with exit code 1. */
export async function cliMain(argv: string[]): Promise<void> {
  if (argv[0] === 'install') return (await import('../lib/deploy/install')).installMain(argv.slice(1), PLUGIN_NAMES);
  try {
    await main(argv);
  } catch (e: unknown) {
    writeAll(2, `${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
