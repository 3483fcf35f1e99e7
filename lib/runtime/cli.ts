/**
 * `tscni`: cnitool's commands and environment on top of lib/runtime.
 *   tscni add|check|del|gc|status <network-name> <netns> [-i|--ifname NAME]
 *   tscni install [options]   (lib/deploy/install.ts)
 * Env: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_ARGS, CAP_ARGS (JSON), CNI_IFNAME
 * (default eth0), and ours: CNI_CACHE_DIR (default /var/lib/cni).
 */
import { sha512hex } from '../sys/hash';
import { resolve } from 'node:path';
import {
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  statusNetworkList,
  type RuntimeConf,
  type RuntimeOptions,
} from './chain';
import { loadNetwork } from './config';
import { writeAll } from '../stdio';

const USAGE = 'usage: tscni {add|check|del|gc|status} <network-name> <netns> [-i ifname] | tscni install [options]';

/** cnitool's CNI_ARGS rules: every pair exactly k=v with both sides non-empty. */
function parseArgs(raw: string): Array<[string, string]> {
  if (!raw) return [];
  return raw.split(';').map((pair) => {
    const kv = pair.split('=');
    if (kv.length !== 2 || !kv[0] || !kv[1]) throw new Error(`invalid CNI_ARGS pair "${pair}"`);
    return [kv[0], kv[1]];
  });
}

async function main(argv: string[]): Promise<void> {
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
  if (argv[0] === 'install') return (await import('../deploy/install')).installMain(argv.slice(1));
  try {
    await main(argv);
  } catch (e: unknown) {
    writeAll(2, `${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
