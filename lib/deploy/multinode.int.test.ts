/**
 * A three-node cluster in one sandbox, as kind builds it, with tscni as the CNI:
 *  - an underlay namespace (the sandbox's host namespace) with a bridge the nodes hang off,
 *    routing to an "outside" namespace, and the fake Kubernetes API server;
 *  - three node namespaces, each running `tscni install --routes` (in-cluster: pod CIDRs from
 *    its node object, masquerade except to the cluster CIDRs, routes to the other nodes' pod
 *    CIDRs via their InternalIPs), then pods added with the installed plugins and conflist;
 *  - pods run a TCP server that answers with the address it sees the client as.
 * Checked: pod to pod on one node and across nodes without NAT (IPv4 and IPv6), pod to outside
 * masqueraded to the node's address, a hostPort on every node from the underlay and from the pod
 * itself (hairpin), and after every pod is deleted no veth, lease, cache entry or rule is left.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, Sandbox, runOk, type RunResult } from '../testutil/sandbox';
import {
  makePki,
  nodeObject,
  serviceAccountDir,
  startFakeApi,
  withServiceAccount,
  type FakeApi,
} from '../testutil/fake-kube';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const NODE_JS = process.execPath;
const TOKEN = 'multinode-token';
const UNDERLAY = { v4: '172.18.0.1', v6: 'fc00:f853:ccd:e793::1' };
const OUTSIDE = { v4: '198.51.100.2', v6: '2001:db8:100::2', routerV4: '198.51.100.1', routerV6: '2001:db8:100::1' };
const HOST_PORT = 8080;

interface Node {
  name: string;
  ns: string;
  ip: string;
  ip6: string;
  podCidrs: [string, string];
  bin: string;
  conf: string;
  data: string;
  cache: string;
}
interface Pod {
  name: string;
  node: Node;
  netns: string;
  ip: string;
  ip6: string;
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
  const child = spawn('ip', ['netns', 'exec', nsName, NODE_JS, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(child);
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => b.toString().includes('listening') && resolve());
    child.once('exit', (c) => reject(new Error(`echo server in ${nsName} exited ${c}`)));
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

const inNode = (n: Node, argv: readonly string[], env: Record<string, string> = {}): Promise<RunResult> =>
  sb.exec(n.name, [
    'env',
    '-i',
    // tscni's run-time state stays in the test's temporary directory (lib/testutil/private-state.js).
    ...Object.entries({ PATH, TSCNI_RUN_DIR: process.env['TSCNI_RUN_DIR'] ?? '', ...env }).map(([k, v]) => `${k}=${v}`),
    ...argv,
  ]);

async function sh(where: string, ...cmds: string[][]): Promise<void> {
  for (const c of cmds) {
    const r = await sb.exec(where, c);
    if (r.code !== 0) throw new Error(`[${where}] ${c.join(' ')}: ${r.stderr}`);
  }
}

beforeAll(async () => {
  sb = await Sandbox.create('mn');
  const ul = 'host';
  // Underlay: a bridge for the nodes, a link to the outside, forwarding between them.
  await sh(
    ul,
    ['ip', 'link', 'add', 'ul0', 'type', 'bridge'],
    ['ip', 'addr', 'add', `${UNDERLAY.v4}/24`, 'dev', 'ul0'],
    ['ip', 'addr', 'add', `${UNDERLAY.v6}/64`, 'dev', 'ul0', 'nodad'],
    ['ip', 'link', 'set', 'ul0', 'up'],
    ['sysctl', '-qw', 'net.ipv4.ip_forward=1'],
    ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1'],
  );
  const outside = sb.nsName('outside');
  await sb.addContainer('outside');
  await sh(
    ul,
    ['ip', 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside],
    ['ip', 'addr', 'add', `${OUTSIDE.routerV4}/24`, 'dev', 'wan0'],
    ['ip', 'addr', 'add', `${OUTSIDE.routerV6}/64`, 'dev', 'wan0', 'nodad'],
    ['ip', 'link', 'set', 'wan0', 'up'],
  );
  // The outside knows the nodes' network, never the pods'.
  await sh(
    'outside',
    ['ip', 'addr', 'add', `${OUTSIDE.v4}/24`, 'dev', 'eth0'],
    ['ip', 'addr', 'add', `${OUTSIDE.v6}/64`, 'dev', 'eth0', 'nodad'],
    ['ip', 'link', 'set', 'eth0', 'up'],
    ['ip', 'route', 'add', '172.18.0.0/24', 'via', OUTSIDE.routerV4],
    ['ip', '-6', 'route', 'add', 'fc00:f853:ccd:e793::/64', 'via', OUTSIDE.routerV6],
  );

  for (const i of [1, 2, 3]) {
    const name = `node${i}`;
    const ns = sb.nsName(name);
    await sb.addContainer(name);
    const dir = join(sb.dir, name);
    const n: Node = {
      name,
      ns,
      ip: `172.18.0.1${i}`,
      ip6: `fc00:f853:ccd:e793::1${i}`,
      podCidrs: [`10.244.${i}.0/24`, `fd00:10:244:${i}::/64`],
      bin: join(dir, 'opt-cni-bin'),
      conf: join(dir, 'net.d'),
      data: join(dir, 'cni-ipam-state'),
      cache: join(dir, 'cni-cache'),
    };
    nodes.push(n);
    await sh(ul, ['ip', 'link', 'add', `ul-${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await sh(ul, ['ip', 'link', 'set', `ul-${name}`, 'master', 'ul0'], ['ip', 'link', 'set', `ul-${name}`, 'up']);
    await sh(
      name,
      ['ip', 'addr', 'add', `${n.ip}/24`, 'dev', 'eth0'],
      ['ip', 'addr', 'add', `${n.ip6}/64`, 'dev', 'eth0', 'nodad'],
      ['ip', 'link', 'set', 'eth0', 'up'],
      ['ip', 'route', 'add', 'default', 'via', UNDERLAY.v4],
      ['ip', '-6', 'route', 'add', 'default', 'via', UNDERLAY.v6],
    );
  }

  // The API server on the underlay, serving the three node objects.
  const pki = await makePki(join(sb.dir, 'pki'), [UNDERLAY.v4]);
  serviceAccountDir(join(sb.dir, 'sa'), TOKEN, readFileSync(pki.caCert, 'utf8'));
  const objects = nodes.map((n) => {
    const o = nodeObject(n.name, n.podCidrs, n.ip) as { status: { addresses: unknown[] } };
    o.status.addresses.push({ type: 'InternalIP', address: n.ip6 });
    return o;
  });
  writeFileSync(join(sb.dir, 'nodes.json'), JSON.stringify(objects));
  api = await startFakeApi(sb.hostNs, {
    host: UNDERLAY.v4,
    port: 6443,
    pki,
    nodesFile: join(sb.dir, 'nodes.json'),
    token: TOKEN,
    dir: sb.dir,
  });
  await startPeerEcho(outside);
});

afterAll(async () => {
  for (const s of servers) s.kill('SIGKILL');
  await api?.stop();
  await sb?.destroy();
});

describe('three nodes', () => {
  it('each node installs from the API: pod CIDRs, conflist, masquerade, routes to the others', async () => {
    for (const n of nodes) {
      const r = await inNode(
        n,
        withServiceAccount(join(sb.dir, 'sa'), [
          join(BIN_DIR, 'tscni'),
          'install',
          '--bin-dir',
          n.bin,
          '--conf-dir',
          n.conf,
          '--data-dir',
          n.data,
          '--routes',
        ]),
        { KUBERNETES_SERVICE_HOST: UNDERLAY.v4, KUBERNETES_SERVICE_PORT: '6443', NODE_NAME: n.name },
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`pod CIDRs: ${n.podCidrs.join(', ')}`);
      for (const other of nodes.filter((o) => o !== n)) {
        expect(r.stdout).toContain(`route ${other.podCidrs[0]} via ${other.ip} (node ${other.name}): added`);
        expect(r.stdout).toContain(`route ${other.podCidrs[1]} via ${other.ip6} (node ${other.name}): added`);
      }
      expect(r.stdout).toContain('masquerade: nft table inet tscni_masq: created');
    }
  });

  it('pods get addresses from their node pod CIDR (dual-stack), hostPort mapped', async () => {
    for (const [name, nodeIndex] of [
      ['p1a', 0],
      ['p1b', 0],
      ['p2a', 1],
      ['p3a', 2],
    ] as const) {
      const node = nodes[nodeIndex];
      if (!node) throw new Error('no node');
      const netns = await sb.addContainer(name);
      const mapped = name.endsWith('a');
      const r = await inNode(node, [join(node.bin, 'tscni'), 'add', 'tscni', netns], {
        NETCONFPATH: node.conf,
        CNI_PATH: node.bin,
        CNI_CACHE_DIR: node.cache,
        ...(mapped
          ? {
              CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: HOST_PORT, containerPort: 80, protocol: 'tcp' }] }),
            }
          : {}),
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const ips = ((r.json as { ips?: Array<{ address: string }> }).ips ?? []).map(
        (x) => x.address.split('/')[0] ?? '',
      );
      const ip = ips.find((a) => !a.includes(':')) ?? '';
      const ip6 = ips.find((a) => a.includes(':')) ?? '';
      expect(ip.startsWith(node.podCidrs[0].replace(/0\/24$/, ''))).toBe(true);
      expect(ip6.startsWith(node.podCidrs[1].replace(/:\/64$/, ''))).toBe(true);
      pods.push({ name, node, netns, ip, ip6 });
      await startPeerEcho(sb.nsName(name));
    }
  });

  const pod = (name: string): Pod => {
    const p = pods.find((x) => x.name === name);
    if (!p) throw new Error(`no pod ${name}`);
    return p;
  };

  it('pod to pod on one node: the receiver sees the sender', async () => {
    expect(await ask('p1b', pod('p1a').ip)).toBe(pod('p1b').ip);
    expect(await ask('p1b', pod('p1a').ip6)).toBe(pod('p1b').ip6);
  });

  it('pod to pod across nodes, without NAT, both families', async () => {
    for (const [from, to] of [
      ['p1a', 'p2a'],
      ['p2a', 'p3a'],
      ['p3a', 'p1b'],
    ] as const) {
      expect(await ask(from, pod(to).ip)).toBe(pod(from).ip);
      expect(await ask(from, pod(to).ip6)).toBe(pod(from).ip6);
    }
  });

  it('pod to outside leaves masqueraded with its node address', async () => {
    for (const p of ['p1a', 'p2a', 'p3a']) {
      expect(await ask(p, OUTSIDE.v4)).toBe(pod(p).node.ip);
      expect(await ask(p, OUTSIDE.v6)).toBe(pod(p).node.ip6);
    }
  });

  it('a hostPort on every node answers from the underlay, and from the pod itself (hairpin)', async () => {
    for (const n of nodes) expect(await ask('host', n.ip, HOST_PORT)).toBe(UNDERLAY.v4);
    const self = pod('p2a');
    expect(await ask('p2a', self.node.ip, HOST_PORT)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // A pod of another node reaches it too (masqueraded: the node address is outside the cluster CIDRs).
    expect(await ask('p1a', self.node.ip, HOST_PORT)).toBe(pod('p1a').node.ip);
  });

  it('deleting every pod leaves every node clean: no veth, lease, cache entry or rule', async () => {
    for (const p of pods) {
      const r = await inNode(p.node, [join(p.node.bin, 'tscni'), 'del', 'tscni', p.netns], {
        NETCONFPATH: p.node.conf,
        CNI_PATH: p.node.bin,
        CNI_CACHE_DIR: p.node.cache,
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
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
      // What stays is node state, not pod state: the masquerade table and the routes.
      expect(rules).toContain('table inet tscni_masq');
    }
  });
});
