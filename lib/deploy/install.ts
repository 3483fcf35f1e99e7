/**
 * `tscni install`: puts this executable and its plugin links into a CNI bin dir and the node's
 * conflist into a CNI conf dir; optionally programs the node's masquerade and its way to the
 * other nodes' pods (`--backend`: routes, a VXLAN overlay, or both; see peers.ts). `--once` (the
 * default) does it and exits; `--loop` is the DaemonSet mode: it retries until the first round
 * succeeds, then re-checks every interval (a deleted or edited file is put back, a new node gets
 * its route) and, between rounds, watches the nodes so a node that comes or goes is handled at
 * once, until SIGTERM. Every round is idempotent: what is already right is not rewritten.
 *
 * Order within a round: binaries, then masquerade and the other nodes' routes (each on its own: a
 * failing one does not skip the other), then the conflist last and only when both worked: a
 * runtime treats the network as ready once the conflist exists, so a node does not go Ready
 * before its pods can reach the other nodes.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultRunner } from '../exec/real';
import type { Runner } from '../exec/runner';
import { writeAll } from '../stdio';
import { renderConflist } from './conflist';
import { ensureDir, errorText, installFile, installLink, removeStaleTemps, type Outcome } from './files';
import {
  KubeClient,
  inClusterConfig,
  SERVICE_ACCOUNT_DIR,
  type NodeInfo,
  type StreamTransport,
  type Transport,
} from './kube';
import { MASQ_TABLE, applyMasq, outermost, removeMasq } from './masq';
import { UsageError } from '../argv';
import { checkPodCidrs, HelpRequested, masqMode, needsApi, parseInstallArgs, type InstallOptions } from './options';
import { planPeers, readFacts, syncPeers, type PeerKernel } from './peers';
import { NodeCache, Wakeup, watchInto } from './watch';

export interface InstallDeps {
  env: NodeJS.ProcessEnv;
  serviceAccountDir: string;
  transport?: Transport;
  stream?: StreamTransport;
  runner: () => Runner;
  /** This node's network namespace through netlink (routes, the VXLAN device). */
  nodeNet: () => Promise<PeerKernel & { close(): void }>;
  /** A sysctl's value (`net/bridge/bridge-nf-call-iptables`), undefined when it does not exist. */
  readSysctl: (name: string) => string | undefined;
  /** Where report lines go (stdout in the CLI). */
  say: (line: string) => void;
  /** Where warnings and errors go (stderr in the CLI). */
  warn: (line: string) => void;
  /** The plugins the executable contains, one link each (plugins/registry.ts, passed in by cmd/). */
  plugins: readonly string[];
}

const defaultDeps = (plugins: readonly string[]): InstallDeps => ({
  env: process.env,
  serviceAccountDir: SERVICE_ACCOUNT_DIR,
  runner: defaultRunner,
  // Loaded only for --backend: the netlink socket is Bun-only.
  nodeNet: async () => (await import('../netlink')).Rtnl.open(),
  readSysctl: (name) => {
    try {
      return readFileSync(join('/proc/sys', name), 'utf8').trim();
    } catch {
      return undefined;
    }
  },
  say: (line) => writeAll(1, line + '\n'),
  warn: (line) => writeAll(2, `tscni install: ${line}\n`),
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
  /** Changes to the VXLAN device, neighbours, FDB entries and routes (one line each). */
  peers: string[];
  /** What is not as it should be but does not fail the round (printed when it first appears). */
  notes: string[];
  /** Failed steps; the conflist was then not written. */
  errors: string[];
}

/** A round whose masquerade or routes step failed; the report says what the other steps did. */
export class RoundFailed extends Error {
  override name = 'RoundFailed';
  constructor(readonly report: RoundReport) {
    super(report.errors.join('; '));
  }
}

/** The nodes as the loop's watch keeps them (no API request in the round). */
export interface NodeView {
  self: NodeInfo;
  nodes: NodeInfo[];
}

const clientOf = (o: InstallOptions, deps: InstallDeps): KubeClient =>
  new KubeClient(
    inClusterConfig(deps.env, deps.serviceAccountDir, o.apiServer),
    deps.transport,
    undefined,
    deps.stream,
  );

/** Whether the round reads every node (routes, or cluster CIDRs from the node list). */
const needsNodeList = (o: InstallOptions): boolean =>
  o.backend !== undefined || (masqMode(o) === 'nft' && o.clusterCidrs.length === 0);

/**
 * One install round; throws RoundFailed when masquerade or routes failed (the conflist is then
 * not written), or another error naming the failed step. `view` replaces the API reads.
 */
export async function installOnce(o: InstallOptions, deps: InstallDeps, view?: NodeView): Promise<RoundReport> {
  let podCidrs = o.podCidrs;
  let clusterCidrs = o.clusterCidrs;
  const mode = masqMode(o);
  let nodes: NodeInfo[] | undefined;
  let self: NodeInfo | undefined;
  let client: KubeClient | undefined;
  if (needsApi(o)) {
    if (!o.nodeName)
      throw new UsageError('node name unknown: set NODE_NAME (downward API spec.nodeName) or --node-name');
    client = clientOf(o, deps);
    if (view) ({ self, nodes } = view);
    else {
      self = await client.getNode(o.nodeName);
      if (needsNodeList(o)) nodes = await client.listNodes();
    }
    if (podCidrs.length === 0) {
      if (self.podCidrs.length === 0) throw new Error(`node ${self.name} has no spec.podCIDRs yet`);
      podCidrs = checkPodCidrs(self.podCidrs, `node ${self.name} spec.podCIDRs`);
    }
  }
  if (mode === 'nft' && clusterCidrs.length === 0)
    clusterCidrs = outermost([...podCidrs, ...(nodes ?? []).flatMap((n) => n.podCidrs)]);

  const report: RoundReport = { podCidrs, clusterCidrs, files: [], masq: '', peers: [], notes: [], errors: [] };
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

  try {
    if (mode === 'nft') {
      const outcome = await applyMasq(deps.runner(), podCidrs, clusterCidrs);
      report.masq = `nft table inet ${MASQ_TABLE}: ${outcome}`;
    } else {
      const removed = await removeMasq(deps.runner());
      report.masq = `${mode === 'bridge' ? `${o.plugin} ipMasq` : 'off'}${removed ? ` (removed table inet ${MASQ_TABLE})` : ''}`;
    }
  } catch (e) {
    report.masq = 'failed';
    report.errors.push(`masquerade: ${errorText(e)}`);
  }

  let podMtu: number | undefined;
  if (o.backend && self && nodes && client) {
    try {
      podMtu = await peersStep(o, deps, client, { ...self, podCidrs }, nodes, report);
    } catch (e) {
      report.errors.push(`${o.backend === 'routes' ? 'routes' : `${o.backend} backend`}: ${errorText(e)}`);
    }
  }
  if (client) report.notes.push(...bridgeNetfilter(o, podCidrs, deps));

  if (report.errors.length > 0) throw new RoundFailed(report);
  const conflist = renderConflist({ ...o, mtu: o.mtu ?? podMtu, podCidrs, masq: mode });
  ensureDir(o.confDir);
  removeStaleTemps(o.confDir);
  const confPath = join(o.confDir, o.confName);
  report.files.push({
    path: confPath,
    outcome: installFile(o.confDir, o.confName, { bytes: Buffer.from(conflist) }, 0o644),
  });
  return report;
}

/**
 * Routes (and the VXLAN device) to the other nodes' pods, then this node's annotations: published
 * only once its device is there, since the other nodes start tunnelling to it when they see them.
 * Returns the pods' MTU the backend needs (undefined: the plugin's default).
 */
async function peersStep(
  o: InstallOptions,
  deps: InstallDeps,
  client: KubeClient,
  self: NodeInfo,
  nodes: readonly NodeInfo[],
  report: RoundReport,
): Promise<number | undefined> {
  if (!o.backend) return undefined;
  const input = { backend: o.backend, vxlan: o.vxlan, self, nodes };
  const k = await deps.nodeNet();
  let plan;
  try {
    plan = planPeers(input, readFacts(k, input));
    const r = syncPeers(k, plan, o.vxlan.device);
    report.peers.push(...r.lines);
  } finally {
    k.close();
  }
  report.notes.push(...plan.notes);
  const patch: Record<string, string | null> = {};
  for (const [key, want] of Object.entries(plan.annotations))
    if ((self.annotations?.[key] ?? null) !== want) patch[key] = want;
  if (Object.keys(patch).length > 0) {
    await client.annotateNode(self.name, patch);
    for (const [key, v] of Object.entries(patch))
      report.peers.push(`node ${self.name} annotation ${key}${v === null ? ': removed' : ` = ${v}: published`}`);
  }
  return plan.podMtu;
}

/**
 * In a cluster the bridge needs bridge netfilter: a pod reaching a Service whose backend is a pod
 * on the same node gets the answer switched on the bridge, never un-NATed, unless the bridge
 * hands its frames to iptables. Docker ≥ 27.3 no longer loads br_netfilter, and this process
 * cannot (no CAP_SYS_MODULE): it says so, every round, until it is on.
 */
function bridgeNetfilter(o: InstallOptions, podCidrs: readonly string[], deps: InstallDeps): string[] {
  if (o.plugin !== 'bridge') return [];
  const out: string[] = [];
  for (const [v6, name] of [
    [false, 'bridge-nf-call-iptables'],
    [true, 'bridge-nf-call-ip6tables'],
  ] as const) {
    if (!podCidrs.some((c) => c.includes(':') === v6)) continue;
    const value = deps.readSysctl(`net/bridge/${name}`);
    if (value === '1') continue;
    out.push(
      `warning: net.bridge.${name} is ${value === undefined ? 'missing (module br_netfilter not loaded)' : value}: ` +
        `a pod reaching a Service backed by a pod on the same node gets no answer; on the node run ` +
        `\`modprobe br_netfilter; sysctl -w net.bridge.${name}=1\`, or install with --plugin ptp`,
    );
  }
  return out;
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

/** The lines to print for a round: all of them, or (loop) only changes and new notes. */
function reportLines(r: RoundReport, o: InstallOptions, previous?: RoundReport): string[] {
  const onlyChanges = previous !== undefined;
  const lines: string[] = [];
  for (const f of r.files) if (!onlyChanges || f.outcome !== 'unchanged') lines.push(`${f.path}: ${f.outcome}`);
  if (!o.conflist) return lines;
  if (!onlyChanges || (!r.masq.endsWith('unchanged') && r.masq !== previous.masq)) lines.push(`masquerade: ${r.masq}`);
  lines.push(...r.peers);
  for (const n of r.notes) if (!previous?.notes.includes(n)) lines.push(n);
  if (r.errors.length > 0) lines.push(`${join(o.confDir, o.confName)}: not written (a step above failed)`);
  if (!onlyChanges && r.errors.length === 0) {
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
      for (const line of reportLines(await installOnce(o, deps), o)) deps.say(line);
    } catch (e) {
      if (e instanceof RoundFailed) for (const line of reportLines(e.report, o)) deps.say(line);
      deps.warn(errorText(e));
      process.exitCode = e instanceof UsageError ? 2 : 1;
    }
    return;
  }
  await installLoop(o, deps);
}

/**
 * The DaemonSet mode. A full round (the node list read again, the watch restarted from it) runs
 * every interval; between them the watch keeps a cache of the nodes and wakes a round, served
 * from the cache, whenever one changes. Until the first round succeeds it retries sooner.
 */
async function installLoop(o: InstallOptions, deps: InstallDeps): Promise<never> {
  // As PID 1 of a container a signal without a handler is ignored: stop on request.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
  const watching = needsApi(o) && needsNodeList(o);
  const cache = new NodeCache();
  const wake = new Wakeup();
  let watch: AbortController | undefined;
  let client: KubeClient | undefined;
  let last: RoundReport | undefined;
  let nextFull = 0;
  for (let attempt = 0; ;) {
    const started = Date.now();
    const full = started >= nextFull || cache.expired;
    try {
      let view: NodeView | undefined;
      if (watching) {
        client ??= clientOf(o, deps);
        if (full) {
          const list = await client.list();
          cache.reset(list);
          watch?.abort();
          watch = watchInto(client, list.resourceVersion, cache, wake, deps.warn);
        }
        for (const line of cache.takeChanges()) deps.say(line);
        const self = cache.list.find((n) => n.name === o.nodeName);
        if (!self) throw new Error(`node ${o.nodeName ?? '(NODE_NAME unset)'} is not in the node list`);
        view = { self, nodes: cache.list };
      }
      const report = await installOnce(o, deps, view);
      for (const line of reportLines(report, o, last)) deps.say(line);
      if (!last)
        deps.say(
          `installed; re-checking every ${o.intervalSec} s${watching ? ', and at once when a node changes' : ''}`,
        );
      last = report;
    } catch (e) {
      if (e instanceof UsageError) {
        deps.warn(e.message);
        process.exit(2);
      }
      if (e instanceof RoundFailed) for (const line of reportLines(e.report, o, last)) deps.say(line);
      deps.warn(`${errorText(e)}${last ? '' : ' (retrying)'}`);
    }
    // Until the first success (API not reachable yet, node without podCIDR) retry sooner.
    if (full) nextFull = started + (last ? o.intervalSec : Math.min(o.intervalSec, 2 + attempt++)) * 1000;
    await wake.wait(Math.max(0, nextFull - Date.now()));
  }
}
