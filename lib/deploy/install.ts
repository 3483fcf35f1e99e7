/**
 * `tscni install`: puts this executable and its plugin links into a CNI bin dir and the node's
 * conflist into a CNI conf dir; optionally programs the node's masquerade and the routes to the
 * other nodes' pods (what kindnetd does on kind). `--once` (the default) does it and exits;
 * `--loop` is the DaemonSet mode: it retries until the first round succeeds, then re-checks every
 * interval (a deleted or edited file is put back, a new node gets its route) until SIGTERM.
 * Every round is idempotent: what is already right is not rewritten.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultRunner } from '../exec/real';
import type { Runner } from '../exec/runner';
import { writeAll } from '../stdio';
import { renderConflist } from './conflist';
import { ensureDir, installFile, installLink, removeStaleTemps, type Outcome } from './files';
import { KubeClient, inClusterConfig, SERVICE_ACCOUNT_DIR, type NodeInfo, type Transport } from './kube';
import { MASQ_TABLE, applyMasq, outermost, removeMasq } from './masq';
import { UsageError } from '../argv';
import { checkPodCidrs, HelpRequested, masqMode, needsApi, parseInstallArgs, type InstallOptions } from './options';
import { planRoutes, syncRoutes, type RouteTable } from './routes';

export interface InstallDeps {
  env: NodeJS.ProcessEnv;
  serviceAccountDir: string;
  transport?: Transport;
  runner: () => Runner;
  routeTable: () => Promise<RouteTable & { close(): void }>;
  /** Where report lines go (stdout in the CLI). */
  say: (line: string) => void;
  /** The plugins the executable contains, one link each (plugins/registry.ts, passed in by cmd/). */
  plugins: readonly string[];
}

const defaultDeps = (plugins: readonly string[]): InstallDeps => ({
  env: process.env,
  serviceAccountDir: SERVICE_ACCOUNT_DIR,
  runner: defaultRunner,
  // Loaded only for --routes: the netlink socket is Bun-only.
  routeTable: async () => (await import('../netlink')).Rtnl.open(),
  say: (line) => writeAll(1, line + '\n'),
  plugins,
});

/** True in the Bun-compiled executable, whose own file is then `process.execPath`. */
const isCompiled = (): boolean => (process.argv[1] ?? '').startsWith('/$bunfs/');

/** The file to install as `tscni`: --source, else the running executable. */
function sourceOf(o: InstallOptions): string {
  const src = o.source ?? (isCompiled() ? process.execPath : undefined);
  if (!src) throw new UsageError('not running as the compiled executable: give --source <path of bin/tscni>');
  let st;
  try {
    st = statSync(src);
  } catch (e) {
    throw new Error(`source executable ${src}: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new Error(`source executable ${src}: not a regular file`);
  return src;
}

export interface RoundReport {
  podCidrs: string[];
  clusterCidrs: string[];
  files: Array<{ path: string; outcome: Outcome }>;
  masq: string;
  routes: string[];
}

/** One install round; throws with the failed step named. */
export async function installOnce(o: InstallOptions, deps: InstallDeps): Promise<RoundReport> {
  let podCidrs = o.podCidrs;
  let clusterCidrs = o.clusterCidrs;
  const mode = masqMode(o);
  let nodes: NodeInfo[] | undefined;
  let self = o.nodeName ?? '';
  if (needsApi(o)) {
    if (!o.nodeName)
      throw new UsageError('node name unknown: set NODE_NAME (downward API spec.nodeName) or --node-name');
    const client = new KubeClient(inClusterConfig(deps.env, deps.serviceAccountDir), deps.transport);
    self = o.nodeName;
    if (podCidrs.length === 0) {
      const node = await client.getNode(o.nodeName);
      if (node.podCidrs.length === 0) throw new Error(`node ${node.name} has no spec.podCIDRs yet`);
      podCidrs = checkPodCidrs(node.podCidrs, `node ${node.name} spec.podCIDRs`);
    }
    if (o.routes || (mode === 'nft' && clusterCidrs.length === 0)) nodes = await client.listNodes();
  }
  if (mode === 'nft' && clusterCidrs.length === 0)
    clusterCidrs = outermost([...podCidrs, ...(nodes ?? []).flatMap((n) => n.podCidrs)]);

  const report: RoundReport = { podCidrs, clusterCidrs, files: [], masq: '', routes: [] };
  // Plugins first, conflist last: a runtime treats the network as ready once the conflist exists.
  if (o.binaries) {
    const source = sourceOf(o);
    ensureDir(o.binDir);
    removeStaleTemps(o.binDir);
    report.files.push({
      path: join(o.binDir, 'tscni'),
      outcome: installFile(o.binDir, 'tscni', { file: source }, 0o755),
    });
    for (const p of deps.plugins)
      report.files.push({ path: `${join(o.binDir, p)} -> tscni`, outcome: installLink(o.binDir, p, 'tscni') });
  }
  if (!o.conflist) return report;
  if (o.firewall && !deps.plugins.includes('firewall'))
    throw new UsageError('--firewall: this build has no firewall plugin');
  const conflist = renderConflist({ ...o, podCidrs, masq: mode });
  ensureDir(o.confDir);
  removeStaleTemps(o.confDir);
  const confPath = join(o.confDir, o.confName);
  report.files.push({
    path: confPath,
    outcome: installFile(o.confDir, o.confName, { bytes: Buffer.from(conflist) }, 0o644),
  });

  if (mode === 'nft') {
    const outcome = await step('masquerade', () => applyMasq(deps.runner(), podCidrs, clusterCidrs));
    report.masq = `nft table inet ${MASQ_TABLE}: ${outcome}`;
  } else {
    const removed = await step('remove masquerade', () => removeMasq(deps.runner()));
    report.masq = `${mode === 'bridge' ? 'bridge ipMasq' : 'off'}${removed ? ` (removed table inet ${MASQ_TABLE})` : ''}`;
  }
  if (o.routes) {
    const table = await step('open netlink', () => deps.routeTable());
    try {
      const ch = syncRoutes(table, planRoutes(self, nodes ?? []));
      for (const r of ch.added) report.routes.push(`route ${r.dst} via ${r.gateway} (node ${r.node}): added`);
      for (const r of ch.removed) report.routes.push(`route ${r}: removed`);
      for (const f of ch.failed) report.routes.push(`route ${f}: failed`);
    } finally {
      table.close();
    }
  }
  return report;
}

async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
}

/** Conf files a CRI runtime would pick before ours (it takes the first in name order). */
function shadowing(o: InstallOptions): string[] {
  try {
    return readdirSync(o.confDir)
      .filter((f) => /\.(conf|conflist|json)$/.test(f) && !f.startsWith('.') && f < o.confName)
      .sort();
  } catch {
    return [];
  }
}

function reportLines(r: RoundReport, o: InstallOptions, onlyChanges: boolean): string[] {
  const lines: string[] = [];
  for (const f of r.files) if (!onlyChanges || f.outcome !== 'unchanged') lines.push(`${f.path}: ${f.outcome}`);
  if (!o.conflist) return lines;
  if (!onlyChanges || !r.masq.endsWith('unchanged')) lines.push(`masquerade: ${r.masq}`);
  lines.push(...r.routes);
  if (!onlyChanges) {
    lines.push(`pod CIDRs: ${r.podCidrs.join(', ')}`);
    if (r.clusterCidrs.length) lines.push(`not masqueraded: ${r.clusterCidrs.join(', ')}`);
    const before = shadowing(o);
    if (before.length)
      lines.push(
        `warning: ${before.join(', ')} in ${o.confDir} sort(s) before ${o.confName}; a CRI runtime uses the first`,
      );
  }
  return lines;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Entry point of `tscni install`. Exit codes: 0 done (or --help), 1 failed, 2 bad usage. */
export async function installMain(
  argv: readonly string[],
  plugins: readonly string[],
  deps: InstallDeps = defaultDeps(plugins),
): Promise<void> {
  let o: InstallOptions;
  try {
    o = parseInstallArgs(argv, deps.env);
  } catch (e) {
    if (e instanceof HelpRequested) return writeAll(1, `${e.message}\n`);
    writeAll(2, `tscni install: ${(e as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  if (!o.loop) {
    try {
      for (const line of reportLines(await installOnce(o, deps), o, false)) deps.say(line);
    } catch (e) {
      writeAll(2, `tscni install: ${(e as Error).message}\n`);
      process.exitCode = e instanceof UsageError ? 2 : 1;
    }
    return;
  }
  // As PID 1 of a container a signal without a handler is ignored: stop on request.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
  let done = false;
  for (let attempt = 0; ; attempt++) {
    try {
      const report = await installOnce(o, deps);
      const lines = reportLines(report, o, done);
      for (const line of lines) deps.say(line);
      if (!done) deps.say(`installed; re-checking every ${o.intervalSec} s`);
      done = true;
    } catch (e) {
      if (e instanceof UsageError) {
        writeAll(2, `tscni install: ${e.message}\n`);
        process.exit(2);
      }
      writeAll(2, `tscni install: ${(e as Error).message}${done ? '' : ' (retrying)'}\n`);
    }
    // Until the first success (API not reachable yet, node without podCIDR) retry sooner.
    await sleep(done ? o.intervalSec * 1000 : Math.min(o.intervalSec, 2 + attempt) * 1000);
  }
}
