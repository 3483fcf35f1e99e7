/**
 * `tscni install` options: parsing and validation. Every value that becomes a path, a link name,
 * a conflist key or part of an API URL is checked here, before anything touches the filesystem.
 */
import { isAbsolute, normalize } from 'node:path';
import { formatCIDR, networkOf, parseCIDR, parseIP } from '../addr/ip';
import { parseArgv, UsageError } from '../argv';

/**
 * How pods reach outside their cluster:
 *  - `nft`: the installer programs table `inet tscni_masq` on the node (pod → outside, except to
 *    the cluster CIDRs), as kindnetd's masquerade agent does;
 *  - `bridge`: bridge `ipMasq` (everything outside the node's own pod CIDR, which includes pods
 *    on other nodes; right for a lone node);
 *  - `off`: nothing.
 */
export type MasqMode = 'nft' | 'bridge' | 'off';

/** How pods reach the other nodes' pods (lib/deploy/peers.ts). */
export type Backend = 'routes' | 'vxlan' | 'auto';
export const BACKENDS: readonly Backend[] = ['routes', 'vxlan', 'auto'];

export interface VxlanSettings {
  /** VXLAN network identifier, the same on every node. */
  readonly vni: number;
  /** UDP destination port, the same on every node. */
  readonly port: number;
  readonly device: string;
}

export const VXLAN_DEFAULTS: VxlanSettings = { vni: 1, port: 4789, device: 'tscni.vxlan' };

/** The plugin that gives pods their interface: a bridge per node, or a veth pair per pod (kindnetd's ptp). */
export type PodPlugin = 'bridge' | 'ptp';

export interface InstallOptions {
  binDir: string;
  confDir: string;
  confName: string;
  /** The executable to install; the running one when compiled. */
  source?: string;
  /** The node's pod CIDRs (canonical, at most one per family); empty: read from the API. */
  podCidrs: string[];
  /** Not masqueraded; empty: every node's pod CIDRs from the API, else this node's. */
  clusterCidrs: string[];
  network: string;
  bridge: string;
  dataDir: string;
  mtu?: number;
  cniVersion: string;
  /** undefined: `nft` in a cluster (API or --cluster-cidr), `bridge` on a lone node. */
  masq?: MasqMode;
  /** Routes to the other nodes' pods; undefined: none. */
  backend?: Backend;
  vxlan: VxlanSettings;
  plugin: PodPlugin;
  /** The API endpoint instead of the in-cluster service address. */
  apiServer?: Endpoint;
  firewall: boolean;
  binaries: boolean;
  /** false: only the executable and its links (`make install`): no conflist, API, masquerade or routes. */
  conflist: boolean;
  loop: boolean;
  intervalSec: number;
  nodeName?: string;
}

export const DEFAULTS = {
  binDir: '/opt/cni/bin',
  confDir: '/etc/cni/net.d',
  confName: '10-tscni.conflist',
  network: 'tscni',
  bridge: 'tscni0',
  // tmpfs, as kind: leases die with a reboot, as the containers do.
  dataDir: '/run/cni-ipam-state',
  cniVersion: '1.0.0',
  intervalSec: 60,
} as const;

export const INSTALL_USAGE = `usage: tscni install [options]
  --bin-dir DIR          CNI bin dir to install the executable and plugin links into (${DEFAULTS.binDir})
  --conf-dir DIR         CNI conf dir for the conflist (${DEFAULTS.confDir})
  --conf-name NAME       conflist file name (${DEFAULTS.confName})
  --pod-cidr CIDR[,..]   this node's pod CIDR(s), one per family; default: the node object from
                         the Kubernetes API (in-cluster config, node name from NODE_NAME)
  --cluster-cidr CIDR    not masqueraded (repeatable); default: every node's pod CIDRs (API)
  --masq nft|bridge|off  masquerade pod -> outside (default: nft in a cluster, the plugin's ipMasq alone)
  --backend routes|vxlan|auto
                         reach the other nodes' pods (API): routes via their InternalIP (one L2
                         segment), a VXLAN overlay (nodes behind routers), or auto (direct routes
                         to same-subnet nodes, VXLAN to the rest); --routes = --backend routes
  --vxlan-vni N          VXLAN network identifier (${VXLAN_DEFAULTS.vni})    --vxlan-port N  UDP port (${VXLAN_DEFAULTS.port})
  --api-server URL       https://host:port of the API instead of KUBERNETES_SERVICE_HOST/PORT
  --plugin bridge|ptp    pods' interface: a bridge per node (default) or a veth per pod (kindnetd's)
  --firewall             add the firewall plugin to the chain
  --network NAME         network name (${DEFAULTS.network})      --bridge NAME  (${DEFAULTS.bridge})
  --data-dir DIR         host-local lease dir (${DEFAULTS.dataDir})
  --mtu N                MTU of bridge and veths      --cni-version V  (${DEFAULTS.cniVersion})
  --node-name NAME       instead of NODE_NAME         --source FILE    executable to install
  --no-binaries          only the conflist (and masquerade, routes)
  --no-conflist          only the executable and its plugin links
  --once                 install and exit (default)
  --loop                 install, then re-check every --interval seconds (${DEFAULTS.intervalSec}) until SIGTERM
  -h, --help             this text`;

/** An API endpoint: `https://host[:port]` (port 443 when left out; IPv6 hosts in brackets). */
export interface Endpoint {
  readonly hostname: string;
  readonly port: number;
}

/** Parses `--api-server`: `https://host[:port]` or `host:port`; nothing else (no path, no user). */
export function parseEndpoint(text: string): Endpoint {
  const m = /^(?:https:\/\/)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252})(?::(\d{1,5}))?\/?$/.exec(text);
  const port = Number(m?.[2] ?? '443');
  if (!m?.[1] || port < 1 || port > 65535 || (!text.startsWith('https://') && m[2] === undefined))
    throw new UsageError(`--api-server ${JSON.stringify(text)}: expected https://host[:port] or host:port`);
  const hostname = m[1].replace(/^\[(.*)\]$/, '$1');
  if (m[1].startsWith('[') && parseIP(hostname)?.family !== 6)
    throw new UsageError(`--api-server ${JSON.stringify(text)}: not an IPv6 address in brackets`);
  return { hostname, port };
}

/** A whole number in [min, max]. */
function wholeNumber(text: string, what: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d{1,9}$/.test(text) || n < min || n > max)
    throw new UsageError(`${what} must be a whole number ${min}..${max}`);
  return n;
}

/** A plain file name: no directory part, no traversal, nothing hidden or odd. */
export function checkFileName(name: string, what: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(name) || name.includes('..'))
    throw new UsageError(`${what} ${JSON.stringify(name)} must be a plain file name ([A-Za-z0-9._-], no "..")`);
  return name;
}

/** An absolute directory path, normalized; no NUL, no `..` components. */
export function checkDir(dir: string, what: string): string {
  if (!isAbsolute(dir) || dir.includes('\0') || dir.split('/').includes('..'))
    throw new UsageError(`${what} ${JSON.stringify(dir)} must be an absolute path without ".."`);
  return normalize(dir).replace(/(.)\/+$/, '$1');
}

/** A Kubernetes object name (DNS subdomain), safe as a URL path segment. */
export function checkNodeName(name: string): string {
  if (name.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name))
    throw new UsageError(`node name ${JSON.stringify(name)} is not a valid Kubernetes name`);
  return name;
}

/** A CIDR in canonical network form (`10.244.1.7/24` → `10.244.1.0/24`). */
export function canonicalCidr(text: string, what: string): string {
  const c = parseCIDR(text.trim());
  if (!c) throw new UsageError(`${what} ${JSON.stringify(text)} is not a CIDR`);
  return formatCIDR(networkOf(c.addr, c.prefix), c.prefix);
}

/** Pod CIDRs of one node: canonical, at most one per family (a range set per family). */
export function checkPodCidrs(list: readonly string[], what: string): string[] {
  const out = list.map((t) => canonicalCidr(t, what));
  const v6 = out.filter((c) => c.includes(':')).length;
  if (v6 > 1 || out.length - v6 > 1) throw new UsageError(`${what}: at most one IPv4 and one IPv6 CIDR`);
  return out.sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')));
}

const LINK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const NET_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const CNI_VERSIONS = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'];

const OPTIONS = {
  'bin-dir': { type: 'string' },
  'conf-dir': { type: 'string' },
  'conf-name': { type: 'string' },
  source: { type: 'string' },
  'pod-cidr': { type: 'string', multiple: true },
  'cluster-cidr': { type: 'string', multiple: true },
  masq: { type: 'string' },
  routes: { type: 'boolean' },
  backend: { type: 'string' },
  'vxlan-vni': { type: 'string' },
  'vxlan-port': { type: 'string' },
  'api-server': { type: 'string' },
  plugin: { type: 'string' },
  firewall: { type: 'boolean' },
  network: { type: 'string' },
  bridge: { type: 'string' },
  'data-dir': { type: 'string' },
  mtu: { type: 'string' },
  'cni-version': { type: 'string' },
  'node-name': { type: 'string' },
  'no-binaries': { type: 'boolean' },
  'no-conflist': { type: 'boolean' },
  once: { type: 'boolean' },
  loop: { type: 'boolean' },
  interval: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `--help`: not an error; installMain prints INSTALL_USAGE and exits 0. */
export class HelpRequested extends Error {
  override name = 'HelpRequested';
}

/** `a,b` lists, from each of a repeatable option's values. */
const listOf = (values: readonly string[] | undefined): string[] =>
  (values ?? []).flatMap((v) => v.split(',').map((s) => s.trim())).filter(Boolean);

/** Parses `tscni install` arguments (`--flag value` and `--flag=value`; see INSTALL_USAGE). */
export function parseInstallArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): InstallOptions {
  let parsed;
  try {
    parsed = parseArgv(argv, OPTIONS);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${INSTALL_USAGE}`);
  }
  const v = parsed.values;
  if (v.help) throw new HelpRequested(INSTALL_USAGE);
  const o: InstallOptions = {
    binDir: v['bin-dir'] === undefined ? DEFAULTS.binDir : checkDir(v['bin-dir'], '--bin-dir'),
    confDir: v['conf-dir'] === undefined ? DEFAULTS.confDir : checkDir(v['conf-dir'], '--conf-dir'),
    confName: DEFAULTS.confName,
    podCidrs: [],
    clusterCidrs: listOf(v['cluster-cidr']).map((c) => canonicalCidr(c, '--cluster-cidr')),
    network: DEFAULTS.network,
    bridge: DEFAULTS.bridge,
    dataDir: v['data-dir'] === undefined ? DEFAULTS.dataDir : checkDir(v['data-dir'], '--data-dir'),
    cniVersion: DEFAULTS.cniVersion,
    vxlan: VXLAN_DEFAULTS,
    plugin: 'bridge',
    firewall: v.firewall ?? false,
    binaries: !v['no-binaries'],
    conflist: !v['no-conflist'],
    // The last of --once and --loop wins.
    loop:
      parsed.tokens.filter((t) => t.kind === 'option' && (t.name === 'once' || t.name === 'loop')).at(-1)?.name ===
      'loop',
    intervalSec: DEFAULTS.intervalSec,
  };
  if (v['conf-name'] !== undefined) {
    const n = checkFileName(v['conf-name'], '--conf-name');
    if (!n.endsWith('.conflist')) throw new UsageError('--conf-name must end in .conflist');
    o.confName = n;
  }
  if (v.source !== undefined) {
    if (!isAbsolute(v.source) || v.source.includes('\0')) throw new UsageError('--source must be an absolute path');
    o.source = v.source;
  }
  if (v.masq !== undefined) {
    const m = v.masq;
    if (m !== 'nft' && m !== 'bridge' && m !== 'off') throw new UsageError('--masq is one of nft, bridge, off');
    o.masq = m;
  }
  if (v.network !== undefined) {
    if (!NET_NAME.test(v.network)) throw new UsageError(`--network ${JSON.stringify(v.network)}: invalid network name`);
    o.network = v.network;
  }
  if (v.bridge !== undefined) {
    if (!LINK_NAME.test(v.bridge)) throw new UsageError(`--bridge ${JSON.stringify(v.bridge)}: invalid link name`);
    o.bridge = v.bridge;
  }
  if (v.mtu !== undefined) {
    const n = Number(v.mtu);
    if (!/^\d+$/.test(v.mtu) || n < 68 || n > 65535) throw new UsageError('--mtu must be an integer 68..65535');
    o.mtu = n;
  }
  if (v['cni-version'] !== undefined) {
    if (!CNI_VERSIONS.includes(v['cni-version']))
      throw new UsageError(`--cni-version is one of ${CNI_VERSIONS.join(', ')}`);
    o.cniVersion = v['cni-version'];
  }
  if (v.interval !== undefined) {
    if (!/^\d+$/.test(v.interval) || Number(v.interval) < 1)
      throw new UsageError('--interval is a whole number of seconds ≥ 1');
    o.intervalSec = Number(v.interval);
  }
  // --routes is --backend routes; the last of the two wins.
  const backendToken = parsed.tokens
    .filter((t) => t.kind === 'option' && (t.name === 'routes' || t.name === 'backend'))
    .at(-1);
  if (backendToken?.kind === 'option') {
    const b = backendToken.name === 'routes' ? 'routes' : (backendToken.value ?? '');
    if (!(BACKENDS as readonly string[]).includes(b))
      throw new UsageError(`--backend is one of ${BACKENDS.join(', ')}`);
    o.backend = b as Backend;
  }
  if (v['vxlan-vni'] !== undefined)
    o.vxlan = { ...o.vxlan, vni: wholeNumber(v['vxlan-vni'], '--vxlan-vni', 1, 0xffffff) };
  if (v['vxlan-port'] !== undefined)
    o.vxlan = { ...o.vxlan, port: wholeNumber(v['vxlan-port'], '--vxlan-port', 1, 65535) };
  if (v['api-server'] !== undefined) o.apiServer = parseEndpoint(v['api-server']);
  if (v.plugin !== undefined) {
    if (v.plugin !== 'bridge' && v.plugin !== 'ptp') throw new UsageError('--plugin is one of bridge, ptp');
    o.plugin = v.plugin;
  }
  o.podCidrs = checkPodCidrs(listOf(v['pod-cidr']), '--pod-cidr');
  if (!o.conflist && (!o.binaries || o.backend)) throw new UsageError('--no-conflist installs only the binaries');
  const nodeName = v['node-name'] ?? (env['NODE_NAME'] || undefined);
  if (nodeName !== undefined) o.nodeName = checkNodeName(nodeName);
  if (o.masq === 'nft' && o.podCidrs.length > 0 && o.clusterCidrs.length === 0) o.clusterCidrs = [...o.podCidrs];
  return o;
}

/** Whether the node object must be read: no pod CIDRs given, or routes to other nodes wanted. */
export const needsApi = (o: InstallOptions): boolean =>
  o.conflist && (o.podCidrs.length === 0 || o.backend !== undefined);

/** The masquerade mode in effect (see MasqMode). */
export function masqMode(o: InstallOptions): MasqMode {
  if (o.masq) return o.masq;
  return needsApi(o) || o.clusterCidrs.length > 0 ? 'nft' : 'bridge';
}
