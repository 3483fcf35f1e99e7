/**
 * `tscni`: cnitool's commands and environment on top of lib/runtime, and `reload` and `install`
 * (USAGE below). Arguments are parsed by node:util's parseArgs (lib/argv.ts); `--help` prints the
 * usage and exits 0, bad usage exits 2, a failed command 1.
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
import { parseArgv, UsageError } from '../lib/argv';
import { writeAll } from '../lib/stdio';
import { lookupReloader, PLUGIN_NAMES } from '../plugins/registry';

const USAGE = `usage: tscni {add|check|del} <network-name> <netns> [-i|--ifname NAME]
       tscni {gc|status} <network-name>
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
  -h, --help             this text`;

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

/** `tscni reload`: see lib/reload/reload.ts. Exit code 1 when a restore failed. */
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
      },
      true,
    ),
  );
  if (v.help) return writeAll(1, RELOAD_USAGE + '\n');
  const dryRun = v['dry-run'] ?? false;
  const outcomes = await reload({
    cacheDir: resolve(v['cache-dir'] ?? (process.env['CNI_CACHE_DIR'] || '/var/lib/cni')),
    netconfPath: resolve(v['netconf-path'] ?? (process.env['NETCONFPATH'] || '/etc/cni/net.d')),
    runDir: resolve(v['run-dir'] ?? runDirOf(process.env)),
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
  if (argv[0] === 'help') return writeAll(1, USAGE + '\n');
  const { values: v, positionals } = usage(USAGE, () =>
    parseArgv(argv, { ...HELP, ifname: { type: 'string', short: 'i' } }, true),
  );
  if (v.help) return writeAll(1, USAGE + '\n');
  const [cmd, net, netnsArg, extra] = positionals;
  if (cmd === undefined) throw new UsageError(USAGE);
  if (!['add', 'check', 'del', 'gc', 'status'].includes(cmd))
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
    case 'gc':
      return gcNetworkList(list, undefined, opts);
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
