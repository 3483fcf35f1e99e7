/**
 * A cluster in one sandbox with tscni as the CNI, its nodes in two subnets behind a router:
 *  - the underlay namespace (the sandbox's host) is the router: bridge `ulA` for subnet A
 *    (172.18.0.0/24: node1, node2), bridge `ulB` for subnet B (172.19.0.0/24: node3, later
 *    node4), no layer 2 between them; it also routes to an "outside" namespace and runs the fake
 *    Kubernetes API server;
 *  - node namespaces, each running the installer as the DaemonSet does (`tscni install --loop`,
 *    in-cluster: pod CIDRs from its node object, masquerade except to the cluster CIDRs, the
 *    backend to the other nodes' pods), then pods added with the installed plugins and conflist
 *    (node3 with `--plugin ptp`, the others with the bridge);
 *  - pods run a TCP server that answers with the address it sees the client as.
 * Checked: `--backend routes` cannot reach the node behind the router; with `vxlan` pod to pod
 * across nodes without NAT (IPv4 and IPv6 pods, IPv4 underlay), VXLAN on UDP 4789 between the
 * node addresses on the wire, a full-size TCP transfer with no fragment on the underlay, an
 * installer restart with no probe lost, the others' watches bringing in nodes that publish
 * later, a fourth node joining while the API refuses watches (the others' periodic resync brings
 * it in: its pods reach and are reached) and leaving (the watches remove it from the others'
 * routes, neighbours and FDB); with `auto` direct routes inside
 * subnet A and VXLAN to subnet B; pod to outside masqueraded, hostPorts, and after every pod is
 * deleted no veth, lease, cache entry or rule left.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireProgram } from '../testutil/programs';
import { BIN_DIR, Sandbox, runOk, type RunResult } from '../testutil/sandbox';
import {
  makePki,
  nodeObject,
  serviceAccountDir,
  startFakeApi,
  withServiceAccount,
  type FakeApi,
} from '../testutil/fake-kube';
import { waitFor } from '../testutil/wait';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const NODE_JS = process.execPath;
const TOKEN = 'multinode-token';
const API = '172.18.0.1';
const SUBNETS = {
  A: { bridge: 'ulA', v4: '172.18.0', v6: 'fc00:f853:ccd:e793' },
  B: { bridge: 'ulB', v4: '172.19.0', v6: 'fc00:f853:ccd:e794' },
} as const;
const OUTSIDE = { v4: '198.51.100.2', v6: '2001:db8:100::2', routerV4: '198.51.100.1', routerV6: '2001:db8:100::1' };
const HOST_PORT = 8080;
/**
 * The installers' full-resync interval (s): an hour while the watch is under test, so what
 * converges within the test did so through the watch; 2 s where the resync alone is tested.
 */
const WATCH_ONLY = 3600;
const RESYNC = 2;
const DEVICE = 'tscni.vxlan';

interface Node {
  name: string;
  ns: string;
  subnet: keyof typeof SUBNETS;
  ip: string;
  ip6: string;
  podCidrs: [string, string];
  bin: string;
  conf: string;
  data: string;
  cache: string;
  plugin: 'bridge' | 'ptp';
  installer?: Installer;
}
interface Pod {
  name: string;
  node: Node;
  netns: string;
  ip: string;
  ip6: string;
}
interface Installer {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

let sb: Sandbox;
let api: FakeApi | undefined;
const servers: ChildProcess[] = [];
const nodes: Node[] = [];
const pods: Pod[] = [];

/** A server in `ns` on port 80 (both families) that answers with the client's address. */
function startPeerEcho(nsName: string): Promise<void> {
  const code =
    "require('net').createServer((s) => s.end(s.remoteAddress.replace(/^::ffff:/, '') + '\\n'))" +
    ".listen(80, '::', () => console.log('listening'))";
  return startServer(nsName, code);
}

/** A server in `ns` on port 81 that reads everything, then answers with the byte count and sha256. */
function startSink(nsName: string): Promise<void> {
  const code =
    "require('net').createServer((s) => { const h = require('crypto').createHash('sha256'); let n = 0;" +
    " s.on('data', (b) => { n += b.length; h.update(b); }); s.on('end', () => s.end(n + ' ' + h.digest('hex'))); })" +
    ".listen(81, '::', () => console.log('listening'))";
  return startServer(nsName, code);
}

function startServer(nsName: string, code: string): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', nsName, NODE_JS, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(child);
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => b.toString().includes('listening') && resolve());
    child.once('exit', (c) => reject(new Error(`server in ${nsName} exited ${c}`)));
  });
}

/** Connects from namespace `where` to host:port and returns what the server said ('' on failure). */
async function ask(where: string, host: string, port = 80): Promise<string> {
  const code =
    `const s = require('net').connect({ host: ${JSON.stringify(host)}, port: ${port}, timeout: 3000 });` +
    "let d = ''; s.on('data', (b) => (d += b)); s.on('end', () => { process.stdout.write(d.trim()); process.exit(0); });" +
    "s.on('timeout', () => process.exit(2)); s.on('error', (e) => { process.stderr.write(String(e)); process.exit(3); });";
  const r = await sb.exec(where, [NODE_JS, '-e', code]);
  return r.code === 0 ? r.stdout : `failed (${r.code}): ${r.stderr}`;
}

/** Sends `bytes` random bytes over one TCP connection; returns `sent-sha received-count received-sha`. */
async function transfer(where: string, host: string, bytes: number): Promise<string> {
  const code =
    `const c = require('crypto'); const data = c.randomBytes(${bytes});` +
    "const sha = c.createHash('sha256').update(data).digest('hex');" +
    `const s = require('net').connect({ host: ${JSON.stringify(host)}, port: 81 }, () => s.end(data));` +
    "let d = ''; s.on('data', (b) => (d += b)); s.on('end', () => { process.stdout.write(sha + ' ' + d.trim()); process.exit(0); });" +
    "s.setTimeout(30000, () => process.exit(2)); s.on('error', (e) => { process.stderr.write(String(e)); process.exit(3); });";
  const r = await sb.exec(where, [NODE_JS, '-e', code]);
  return r.code === 0 ? r.stdout : `failed (${r.code}): ${r.stderr}`;
}

const nodeEnv = (extra: Record<string, string> = {}): string[] =>
  Object.entries({ PATH, TSCNI_RUN_DIR: process.env['TSCNI_RUN_DIR'] ?? '', ...extra }).map(([k, v]) => `${k}=${v}`);

const inNode = (n: Node, argv: readonly string[], env: Record<string, string> = {}): Promise<RunResult> =>
  // tscni's run-time state stays in the test's temporary directory (lib/testutil/private-state.js).
  sb.exec(n.name, ['env', '-i', ...nodeEnv(env), ...argv]);

const inCluster = (n: Node): Record<string, string> => ({
  KUBERNETES_SERVICE_HOST: API,
  KUBERNETES_SERVICE_PORT: '6443',
  NODE_NAME: n.name,
});

const installArgs = (n: Node, ...more: string[]): string[] =>
  withServiceAccount(join(sb.dir, 'sa'), [
    join(BIN_DIR, 'tscni'),
    'install',
    '--bin-dir',
    n.bin,
    '--conf-dir',
    n.conf,
    '--data-dir',
    n.data,
    '--plugin',
    n.plugin,
    ...more,
  ]);

/** Starts the DaemonSet's installer on `n`; resolves once its first round succeeded. */
async function startInstaller(n: Node, backend: string, interval = WATCH_ONLY): Promise<Installer> {
  const argv = [
    'env',
    '-i',
    ...nodeEnv(inCluster(n)),
    ...installArgs(n, '--backend', backend, '--loop', '--interval', String(interval)),
  ];
  // `ip netns exec`, unshare and sh all exec: the child's PID ends up being the installer's.
  const child = spawn('ip', ['netns', 'exec', n.ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const inst = { child, out: () => out, exited };
  n.installer = inst;
  await waitFor(`${n.name}'s installer to finish its first round`, () => {
    if (child.exitCode !== null) throw new Error(`installer on ${n.name} exited ${child.exitCode}:\n${out}`);
    return out.includes('installed; re-checking every');
  });
  return inst;
}

async function stopInstaller(n: Node): Promise<void> {
  const inst = n.installer;
  if (!inst || inst.child.exitCode !== null) return;
  inst.child.kill('SIGTERM');
  expect(await inst.exited).toBe(0);
}

async function sh(where: string, ...cmds: string[][]): Promise<void> {
  for (const c of cmds) {
    const r = await sb.exec(where, c);
    if (r.code !== 0) throw new Error(`[${where}] ${c.join(' ')}: ${r.stderr}`);
  }
}

/** Routes of ours (protocol 116) in a node, as `dst via gw dev link`. */
async function ourRoutes(n: Node): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    const r = await sb.exec(n.name, ['ip', '-j', fam, 'route', 'show', 'proto', '116']);
    for (const x of (r.json ?? []) as Array<Record<string, string>>)
      out.push(`${x['dst']} via ${x['gateway']} dev ${x['dev']}`);
  }
  return out.sort();
}

/** The node's VXLAN FDB as `mac dst`. */
async function fdbOf(n: Node): Promise<string[]> {
  const r = await sb.exec(n.name, ['bridge', '-j', 'fdb', 'show', 'dev', DEVICE]);
  return ((r.json ?? []) as Array<Record<string, string>>)
    .filter((e) => e['dst'])
    .map((e) => `${e['mac']} ${e['dst']}`);
}

/** What a node should route when every other node is reached through VXLAN. */
const vxlanRoutesFor = (n: Node, all: readonly Node[]): string[] =>
  all
    .filter((o) => o !== n)
    .flatMap((o) => o.podCidrs.map((c) => `${c} via ${c.replace(/\/\d+$/, '')} dev ${DEVICE}`))
    .sort();

/** A capture in the underlay namespace; lines as tcpdump prints them. */
interface Capture {
  lines: () => string[];
  stop: () => Promise<void>;
}
async function capture(filter: string): Promise<Capture> {
  const tcpdump = requireProgram('tcpdump');
  const child = spawn('ip', ['netns', 'exec', sb.hostNs, tcpdump, '-l', '-nn', '-i', 'any', ...filter.split(' ')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitFor('tcpdump to listen', () => {
    if (child.exitCode !== null) throw new Error(`tcpdump exited ${child.exitCode}: ${err}`);
    return err.includes('listening on');
  });
  return {
    lines: () => out.split('\n').filter(Boolean),
    stop: async () => {
      child.kill('SIGINT');
      await exited;
    },
  };
}

async function addNode(i: number, subnet: keyof typeof SUBNETS, plugin: 'bridge' | 'ptp'): Promise<Node> {
  const name = `node${i}`;
  const s = SUBNETS[subnet];
  const ns = sb.nsName(name);
  await sb.addContainer(name);
  const dir = join(sb.dir, name);
  const n: Node = {
    name,
    ns,
    subnet,
    ip: `${s.v4}.1${i}`,
    ip6: `${s.v6}::1${i}`,
    podCidrs: [`10.244.${i}.0/24`, `fd00:10:244:${i}::/64`],
    bin: join(dir, 'opt-cni-bin'),
    conf: join(dir, 'net.d'),
    data: join(dir, 'cni-ipam-state'),
    cache: join(dir, 'cni-cache'),
    plugin,
  };
  nodes.push(n);
  await sh('host', ['ip', 'link', 'add', `ul-${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await sh('host', ['ip', 'link', 'set', `ul-${name}`, 'master', s.bridge], ['ip', 'link', 'set', `ul-${name}`, 'up']);
  await sh(
    name,
    ['ip', 'addr', 'add', `${n.ip}/24`, 'dev', 'eth0'],
    ['ip', 'addr', 'add', `${n.ip6}/64`, 'dev', 'eth0', 'nodad'],
    ['ip', 'link', 'set', 'eth0', 'up'],
    ['ip', 'route', 'add', 'default', 'via', `${s.v4}.1`],
    ['ip', '-6', 'route', 'add', 'default', 'via', `${s.v6}::1`],
  );
  return n;
}

/** Writes the node objects the fake API serves (InternalIPs: IPv4 first, then IPv6). */
function publishNodes(list: readonly Node[]): void {
  const objects = list.map((n) => {
    const o = nodeObject(n.name, n.podCidrs, n.ip) as { status: { addresses: unknown[] } };
    o.status.addresses.push({ type: 'InternalIP', address: n.ip6 });
    return o;
  });
  const file = join(sb.dir, 'nodes.json');
  writeFileSync(`${file}.tmp`, JSON.stringify(objects));
  // Renamed into place: the server never reads half a file.
  renameSync(`${file}.tmp`, file);
}

async function addPod(name: string, node: Node, hostPort = false): Promise<Pod> {
  const netns = await sb.addContainer(name);
  const r = await inNode(node, [join(node.bin, 'tscni'), 'add', 'tscni', netns], {
    NETCONFPATH: node.conf,
    CNI_PATH: node.bin,
    CNI_CACHE_DIR: node.cache,
    ...(hostPort
      ? { CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: HOST_PORT, containerPort: 80, protocol: 'tcp' }] }) }
      : {}),
  });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const ips = ((r.json as { ips?: Array<{ address: string }> }).ips ?? []).map((x) => x.address.split('/')[0] ?? '');
  const p: Pod = {
    name,
    node,
    netns,
    ip: ips.find((a) => !a.includes(':')) ?? '',
    ip6: ips.find((a) => a.includes(':')) ?? '',
  };
  pods.push(p);
  await startPeerEcho(sb.nsName(name));
  return p;
}

async function delPod(p: Pod): Promise<void> {
  const r = await inNode(p.node, [join(p.node.bin, 'tscni'), 'del', 'tscni', p.netns], {
    NETCONFPATH: p.node.conf,
    CNI_PATH: p.node.bin,
    CNI_CACHE_DIR: p.node.cache,
  });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

const pod = (name: string): Pod => {
  const p = pods.find((x) => x.name === name);
  if (!p) throw new Error(`no pod ${name}`);
  return p;
};
const node = (name: string): Node => {
  const n = nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name}`);
  return n;
};

beforeAll(async () => {
  sb = await Sandbox.create('mn');
  // The router: one bridge per subnet, forwarding between them and to the outside.
  for (const s of Object.values(SUBNETS))
    await sh(
      'host',
      ['ip', 'link', 'add', s.bridge, 'type', 'bridge'],
      ['ip', 'addr', 'add', `${s.v4}.1/24`, 'dev', s.bridge],
      ['ip', 'addr', 'add', `${s.v6}::1/64`, 'dev', s.bridge, 'nodad'],
      ['ip', 'link', 'set', s.bridge, 'up'],
    );
  await sh('host', ['sysctl', '-qw', 'net.ipv4.ip_forward=1'], ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  const outside = sb.nsName('outside');
  await sb.addContainer('outside');
  await sh(
    'host',
    ['ip', 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside],
    ['ip', 'addr', 'add', `${OUTSIDE.routerV4}/24`, 'dev', 'wan0'],
    ['ip', 'addr', 'add', `${OUTSIDE.routerV6}/64`, 'dev', 'wan0', 'nodad'],
    ['ip', 'link', 'set', 'wan0', 'up'],
  );
  // The outside knows the nodes' networks, never the pods'.
  await sh(
    'outside',
    ['ip', 'addr', 'add', `${OUTSIDE.v4}/24`, 'dev', 'eth0'],
    ['ip', 'addr', 'add', `${OUTSIDE.v6}/64`, 'dev', 'eth0', 'nodad'],
    ['ip', 'link', 'set', 'eth0', 'up'],
    ['ip', 'route', 'add', '172.16.0.0/12', 'via', OUTSIDE.routerV4],
    ['ip', '-6', 'route', 'add', 'fc00:f853:ccd::/48', 'via', OUTSIDE.routerV6],
  );
  await addNode(1, 'A', 'bridge');
  await addNode(2, 'A', 'bridge');
  await addNode(3, 'B', 'ptp');

  const pki = await makePki(join(sb.dir, 'pki'), [API]);
  serviceAccountDir(join(sb.dir, 'sa'), TOKEN, readFileSync(pki.caCert, 'utf8'));
  publishNodes(nodes);
  api = await startFakeApi(sb.hostNs, {
    host: API,
    port: 6443,
    pki,
    nodesFile: join(sb.dir, 'nodes.json'),
    token: TOKEN,
    dir: sb.dir,
  });
  await startPeerEcho(outside);
});

afterAll(async () => {
  for (const n of nodes) n.installer?.child.kill('SIGKILL');
  for (const s of servers) s.kill('SIGKILL');
  await api?.stop();
  await sb?.destroy();
});

describe('nodes in two subnets behind a router', () => {
  it('--backend routes cannot reach the node behind the router: its route is refused and reported', async () => {
    const n1 = node('node1');
    const r = await inNode(n1, installArgs(n1, '--backend', 'routes', '--no-binaries'), inCluster(n1));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('route 10.244.2.0/24 via 172.18.0.12 (node node2): added');
    expect(r.stdout).toMatch(/route 10\.244\.3\.0\/24 via 172\.19\.0\.13 \(node node3\): .*: failed/);
  });

  it('vxlan: every installer publishes its VTEP, and the watches route the others through the device', async () => {
    for (const n of nodes) {
      const inst = await startInstaller(n, 'vxlan');
      expect(inst.out()).toContain(`pod CIDRs: ${n.podCidrs.join(', ')}`);
      expect(inst.out()).toMatch(
        /vxlan tscni\.vxlan \(VNI 1, port 4789, local 172\.1[89]\.0\.1\d, mtu 1450, mac [0-9a-f:]+\): created/,
      );
      // node1's table is there from the routes run above.
      expect(inst.out()).toMatch(/masquerade: nft table inet tscni_masq: (created|unchanged)/);
    }
    // The first nodes came up before the others had published: their watches bring them in
    // (the resync is an hour away).
    expect(node('node1').installer?.out()).toContain('watch: node node2 changed');
    for (const n of nodes)
      await waitFor(`${n.name} to route every other node through VXLAN`, async () => {
        const have = await ourRoutes(n);
        return JSON.stringify(have) === JSON.stringify(vxlanRoutesFor(n, nodes));
      });
    for (const n of nodes) {
      const others = nodes.filter((o) => o !== n).map((o) => o.ip);
      expect((await fdbOf(n)).map((e) => e.split(' ')[1]).sort()).toEqual(others.sort());
      // The MTU the conflist gives pods: the underlay's 1500 less 50 bytes of VXLAN over IPv4.
      const conf = JSON.parse(readFileSync(join(n.conf, '10-tscni.conflist'), 'utf8')) as {
        plugins: Array<{ mtu?: number }>;
      };
      expect(conf.plugins[0]?.mtu).toBe(1450);
    }
  });

  it('pods get addresses from their node pod CIDR (dual-stack), the overlay MTU, hostPort mapped', async () => {
    for (const [name, nodeName] of [
      ['p1a', 'node1'],
      ['p1b', 'node1'],
      ['p2a', 'node2'],
      ['p3a', 'node3'],
    ] as const) {
      const n = node(nodeName);
      const p = await addPod(name, n, name.endsWith('a'));
      expect(p.ip.startsWith(n.podCidrs[0].replace(/0\/24$/, ''))).toBe(true);
      expect(p.ip6.startsWith(n.podCidrs[1].replace(/:\/64$/, ''))).toBe(true);
      const link = (await sb.exec(name, ['ip', '-j', 'link', 'show', 'eth0'])).json as Array<{ mtu: number }>;
      expect(link[0]?.mtu).toBe(1450);
    }
  });

  it('pod to pod on one node: the receiver sees the sender', async () => {
    expect(await ask('p1b', pod('p1a').ip)).toBe(pod('p1b').ip);
    expect(await ask('p1b', pod('p1a').ip6)).toBe(pod('p1b').ip6);
  });

  it('pod to pod across nodes and subnets, without NAT, both families, VXLAN on UDP 4789 between node addresses', async () => {
    const cap = await capture('udp port 4789');
    try {
      for (const [from, to] of [
        ['p1a', 'p2a'],
        ['p2a', 'p3a'],
        ['p3a', 'p1b'],
      ] as const) {
        expect(await ask(from, pod(to).ip)).toBe(pod(from).ip);
        expect(await ask(from, pod(to).ip6)).toBe(pod(from).ip6);
      }
      const seen = (re: RegExp): boolean => cap.lines().some((l) => re.test(l));
      await waitFor('the capture to show the tunnels', () =>
        seen(/IP 172\.18\.0\.12\.\d+ > 172\.19\.0\.13\.4789: VXLAN, flags \[I\] \(0x08\), vni 1/),
      );
      expect(seen(/IP 172\.18\.0\.11\.\d+ > 172\.18\.0\.12\.4789: VXLAN/)).toBe(true);
      expect(seen(/IP 172\.19\.0\.13\.\d+ > 172\.18\.0\.11\.4789: VXLAN/)).toBe(true);
    } finally {
      await cap.stop();
    }
    // tcpdump decodes the inner packet on the next line: pod addresses, untouched.
    const text = cap.lines().join('\n');
    expect(text).toContain(`IP ${pod('p2a').ip}.`);
    expect(text).toContain(`IP6 ${pod('p3a').ip6}.`);
  });

  it('a full-size TCP transfer across the overlay arrives whole, with no fragment on the underlay', async () => {
    await startSink(sb.nsName('p3a'));
    const frags = await capture('(ip[6:2] & 0x3fff) != 0 or ip6[6] == 44');
    const vx = await capture('udp port 4789 and greater 1400');
    try {
      for (const to of [pod('p3a').ip, pod('p3a').ip6]) {
        const [sent, count, got] = (await transfer('p1a', to, 4 << 20)).split(' ');
        expect(count).toBe(String(4 << 20));
        expect(got).toBe(sent);
      }
      // Full-size segments did cross (1500-byte VXLAN packets), none of them fragmented.
      await waitFor('full-size VXLAN packets in the capture', () => vx.lines().length > 0);
    } finally {
      await frags.stop();
      await vx.stop();
    }
    expect(frags.lines()).toEqual([]);
  });

  it('an installer restarted on a node keeps traffic flowing: no probe lost', async () => {
    const n3 = node('node3');
    const interval = 0.02;
    const ping = spawn('ip', ['netns', 'exec', sb.nsName('p1a'), 'ping', '-n', '-i', String(interval), pod('p3a').ip], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    ping.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<void>((r) => ping.once('exit', () => r()));
    const replies = (): number[] => [...out.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1]));
    try {
      await waitFor('the probe to get answers', () => replies().length >= 10);
      await stopInstaller(n3);
      const inst = await startInstaller(n3, 'vxlan');
      // A restart finds everything in place: it changes nothing.
      expect(inst.out()).not.toMatch(/: (created|recreated|added|removed|published)/);
      const after = replies().length;
      await waitFor('more answers after the restart', () => replies().length >= after + 25);
    } finally {
      ping.kill('SIGINT');
      await exited;
    }
    const seqs = new Set(replies());
    const first = Math.min(...seqs);
    const last = Math.max(...seqs);
    const lost = last - first + 1 - seqs.size;
    process.stdout.write(`restart probe: ${seqs.size} answered, ${lost} lost (one every ${interval * 1000} ms)\n`);
    expect(lost).toBe(0);
  });

  it("a fourth node added to the API while no watch works joins at the others' next resync", async () => {
    // The API refuses watches (and ends open ones); the installers run with a 2 s resync.
    const noWatch = join(sb.dir, 'nodes.json.nowatch');
    writeFileSync(noWatch, '');
    const others = [...nodes];
    try {
      for (const n of others) {
        await stopInstaller(n);
        await startInstaller(n, 'vxlan', RESYNC);
      }
      const n4 = await addNode(4, 'B', 'bridge');
      publishNodes(nodes);
      await startInstaller(n4, 'vxlan', RESYNC);
      const published = Date.now();
      await waitFor('every other node to route node4', async () =>
        (await Promise.all(others.map(ourRoutes))).every((routes) => routes.some((r) => r.startsWith('10.244.4.0/24'))),
      );
      const joined = Date.now() - published;
      for (const n of others) {
        expect(n.installer?.out()).toMatch(/resync: node node4 (added|changed)/);
        expect(n.installer?.out()).toMatch(/watch nodes: .*HTTP 503/);
      }
      process.stdout.write(`node4 routed by every other node ${joined} ms after it published its VTEP (resync 2 s)\n`);
    } finally {
      rmSync(noWatch, { force: true });
    }
    const p4 = await addPod('p4a', node('node4'));
    for (const other of ['p1a', 'p2a', 'p3a']) {
      expect(await ask(other, p4.ip)).toBe(pod(other).ip);
      expect(await ask('p4a', pod(other).ip6)).toBe(p4.ip6);
    }
    for (const n of nodes) expect(await ourRoutes(n)).toEqual(vxlanRoutesFor(n, nodes));
  });

  it("a node deleted from the API disappears from the others' routes, neighbours and FDB through the watch", async () => {
    const n4 = node('node4');
    await stopInstaller(n4);
    await delPod(pod('p4a'));
    pods.splice(pods.indexOf(pod('p4a')), 1);
    const rest = nodes.filter((n) => n !== n4);
    // Watches work again; the next resync is an hour away.
    for (const n of rest) {
      await stopInstaller(n);
      await startInstaller(n, 'vxlan');
    }
    publishNodes(rest);
    for (const n of rest)
      await waitFor(`${n.name} to forget node4`, async () => {
        const routes = await ourRoutes(n);
        const fdb = await fdbOf(n);
        const neigh = (await sb.exec(n.name, ['ip', 'neigh', 'show', 'dev', DEVICE])).stdout;
        return (
          JSON.stringify(routes) === JSON.stringify(vxlanRoutesFor(n, rest)) &&
          !fdb.some((e) => e.endsWith(n4.ip)) &&
          !neigh.includes('10.244.4.0') &&
          !neigh.includes('fd00:10:244:4::')
        );
      });
    for (const n of rest) expect(n.installer?.out()).toContain('watch: node node4 deleted');
    nodes.splice(nodes.indexOf(n4), 1);
  });

  it('auto: direct routes inside subnet A, VXLAN to subnet B; traffic flows either way', async () => {
    for (const n of nodes) {
      await stopInstaller(n);
      await startInstaller(n, 'auto');
    }
    const n1 = node('node1');
    await waitFor('node1 to route node2 directly', async () =>
      (await ourRoutes(n1)).includes('10.244.2.0/24 via 172.18.0.12 dev eth0'),
    );
    expect(await ourRoutes(n1)).toEqual([
      '10.244.2.0/24 via 172.18.0.12 dev eth0',
      `10.244.3.0/24 via 10.244.3.0 dev ${DEVICE}`,
      'fd00:10:244:2::/64 via fc00:f853:ccd:e793::12 dev eth0',
      `fd00:10:244:3::/64 via fd00:10:244:3:: dev ${DEVICE}`,
    ]);
    // node1 and node2 no longer tunnel to each other.
    expect((await fdbOf(n1)).map((e) => e.split(' ')[1])).toEqual(['172.19.0.13']);
    const plain = await capture(`host ${pod('p2a').ip} or udp port 4789`);
    try {
      expect(await ask('p1a', pod('p2a').ip)).toBe(pod('p1a').ip);
      expect(await ask('p1a', pod('p3a').ip)).toBe(pod('p1a').ip);
      await waitFor('both paths in the capture', () =>
        plain.lines().some((l) => / > 172\.19\.0\.13\.4789: VXLAN/.test(l)),
      );
    } finally {
      await plain.stop();
    }
    // Between node1 and node2 the pod packets travel as they are, never in UDP 4789.
    const lines = plain.lines();
    expect(lines.some((l) => l.includes(`${pod('p1a').ip}.`) && l.includes(`> ${pod('p2a').ip}.80`))).toBe(true);
    expect(lines.some((l) => /172\.18\.0\.1[12]\.\d+ > 172\.18\.0\.1[12]\.4789/.test(l))).toBe(false);
  });

  it('pod to outside leaves masqueraded with its node address', async () => {
    for (const p of ['p1a', 'p2a', 'p3a']) {
      expect(await ask(p, OUTSIDE.v4)).toBe(pod(p).node.ip);
      expect(await ask(p, OUTSIDE.v6)).toBe(pod(p).node.ip6);
    }
  });

  it('a hostPort on every node answers from the underlay, and from the pod itself (hairpin)', async () => {
    for (const n of nodes) expect(await ask('host', n.ip, HOST_PORT)).toBe(`${SUBNETS[n.subnet].v4}.1`);
    const self = pod('p2a');
    expect(await ask('p2a', self.node.ip, HOST_PORT)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // With ptp too: the hairpin goes through the node's routing.
    expect(await ask('p3a', pod('p3a').node.ip, HOST_PORT)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // A pod of another node reaches it too (masqueraded: the node address is outside the cluster CIDRs).
    expect(await ask('p1a', self.node.ip, HOST_PORT)).toBe(pod('p1a').node.ip);
  });

  it('deleting every pod leaves every node clean: no veth, lease, cache entry or rule', async () => {
    for (const n of nodes) await stopInstaller(n);
    for (const p of pods) await delPod(p);
    for (const n of nodes) {
      const veths = (await runOk(['ip', '-n', n.ns, '-o', 'link', 'show', 'type', 'veth'])).stdout;
      expect(
        veths
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(':')[1]?.trim().split('@')[0]),
      ).toEqual(['eth0']);
      const leaseDir = join(n.data, 'tscni');
      const leases = existsSync(leaseDir) ? readdirSync(leaseDir).filter((f) => /^[\d.]+$|:/.test(f)) : [];
      expect(leases).toEqual([]);
      expect(readdirSync(join(n.cache, 'results'))).toEqual([]);
      const rules = [
        (await sb.exec(n.name, ['iptables-save'])).stdout,
        (await sb.exec(n.name, ['ip6tables-save'])).stdout,
        (await sb.exec(n.name, ['nft', 'list', 'ruleset'])).stdout,
      ].join('\n');
      for (const p of pods.filter((x) => x.node === n)) {
        expect(rules).not.toMatch(new RegExp(`${p.ip.replace(/\./g, '\\.')}(?![\\d/])`));
        expect(rules).not.toContain(p.ip6);
      }
      expect(rules).not.toMatch(/CNI-DN-|CNI-[0-9a-f]{24}/);
      // What stays is node state, not pod state: the masquerade table, the device and the routes.
      expect(rules).toContain('table inet tscni_masq');
    }
  });
});
