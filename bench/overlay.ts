/**
 * Pod-to-pod throughput and latency across two nodes, VXLAN overlay against direct routes (not
 * part of `make test`; root):
 *
 *     node_modules/.bin/bun bench/overlay.ts [--bytes MiB] [--rounds N]     # defaults: 256, 3
 *
 * In a throwaway sandbox (namespaces tscni-t-*-bench-overlay-*): six node namespaces on one
 * underlay bridge (1500 MTU, so `routes` works), the fake API server of the installer's tests,
 * and `bin/tscni install --once`, a pair of nodes per row: `--backend routes` (pod MTU 1500),
 * `--backend vxlan` (the conflist's MTU lowered to 1450) and `--backend vxlan --mtu 1500` (the
 * MTU effect: pods that do not know about the encapsulation). One pod on each node; from the pod
 * on one node of a pair to the pod on the other, the pairs in turns so all see the same machine
 * load: first one ping of a full 1500-byte packet with DF set (who refuses it), then TCP
 * throughput (one connection, `--bytes` MiB), TCP request/response round trips (1-byte
 * ping-pong, 5,000: p50 and p99) and ICMP echo (`ping`, 1,000 at 2 ms), `--rounds` times, medians
 * reported; last, the path MTU the sending pod has learnt (`ip route get`). Every pair runs the
 * same Node.js programs; only the path between the nodes differs. It measures; it asserts
 * nothing. Everything it made is removed on exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, Sandbox, runOk } from '../lib/testutil/sandbox';
import { makePki, nodeObject, serviceAccountDir, startFakeApi, withServiceAccount } from '../lib/testutil/fake-kube';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const MIB = arg('--bytes', 256);
const ROUNDS = arg('--rounds', 3);
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const TOKEN = 'bench-token';
const NODE = 'node';

interface BenchNode {
  name: string;
  ip: string;
  podCidr: string;
  bin: string;
  conf: string;
  data: string;
  cache: string;
}

const children: ChildProcess[] = [];
let sb: Sandbox | undefined;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  sb = await Sandbox.create('bench-overlay');
  const box = sb;
  const sh = async (where: string, ...cmds: string[][]): Promise<void> => {
    for (const c of cmds) {
      const r = await box.exec(where, c);
      if (r.code !== 0) throw new Error(`[${where}] ${c.join(' ')}: ${r.stderr}`);
    }
  };
  await sh(
    'host',
    ['ip', 'link', 'add', 'ul0', 'type', 'bridge'],
    ['ip', 'addr', 'add', '172.18.0.1/24', 'dev', 'ul0'],
  );
  await sh('host', ['ip', 'link', 'set', 'ul0', 'up']);
  const nodes: BenchNode[] = [];
  for (const i of [1, 2, 3, 4, 5, 6]) {
    const name = `node${i}`;
    await box.addContainer(name);
    const dir = join(box.dir, name);
    const n = {
      name,
      ip: `172.18.0.1${i}`,
      podCidr: `10.244.${i}.0/24`,
      bin: join(dir, 'bin'),
      conf: join(dir, 'net.d'),
      data: join(dir, 'ipam'),
      cache: join(dir, 'cache'),
    };
    nodes.push(n);
    await sh('host', [
      'ip',
      'link',
      'add',
      `ul-${name}`,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      box.nsName(name),
    ]);
    await sh('host', ['ip', 'link', 'set', `ul-${name}`, 'master', 'ul0'], ['ip', 'link', 'set', `ul-${name}`, 'up']);
    await sh(name, ['ip', 'addr', 'add', `${n.ip}/24`, 'dev', 'eth0'], ['ip', 'link', 'set', 'eth0', 'up']);
  }
  const pki = await makePki(join(box.dir, 'pki'), ['172.18.0.1']);
  serviceAccountDir(join(box.dir, 'sa'), TOKEN, readFileSync(pki.caCert, 'utf8'));
  writeFileSync(join(box.dir, 'nodes.json'), JSON.stringify(nodes.map((n) => nodeObject(n.name, [n.podCidr], n.ip))));
  const api = await startFakeApi(box.hostNs, {
    host: '172.18.0.1',
    port: 6443,
    pki,
    nodesFile: join(box.dir, 'nodes.json'),
    token: TOKEN,
    dir: box.dir,
  });
  children.push(api.child);

  const env = (extra: Record<string, string> = {}): string[] =>
    Object.entries({ PATH, TSCNI_RUN_DIR: join(box.dir, 'run'), ...extra }).map(([k, v]) => `${k}=${v}`);
  const install = async (n: BenchNode, backend: string, more: readonly string[]): Promise<void> => {
    const argv = withServiceAccount(join(box.dir, 'sa'), [
      join(BIN_DIR, 'tscni'),
      'install',
      '--once',
      '--backend',
      backend,
      '--bin-dir',
      n.bin,
      '--conf-dir',
      n.conf,
      '--data-dir',
      n.data,
      ...more,
    ]);
    const e = env({ KUBERNETES_SERVICE_HOST: '172.18.0.1', KUBERNETES_SERVICE_PORT: '6443', NODE_NAME: n.name });
    const r = await box.exec(n.name, ['env', '-i', ...e, ...argv]);
    if (r.code !== 0) throw new Error(`install on ${n.name}: ${r.stderr}`);
  };
  const cni = async (n: BenchNode, verb: string, pod: string): Promise<unknown> => {
    const e = env({ NETCONFPATH: n.conf, CNI_PATH: n.bin, CNI_CACHE_DIR: n.cache });
    const r = await box.exec(n.name, [
      'env',
      '-i',
      ...e,
      join(n.bin, 'tscni'),
      verb,
      'tscni',
      `/run/netns/${box.nsName(pod)}`,
    ]);
    if (r.code !== 0) throw new Error(`${verb} ${pod}: ${r.stderr}`);
    return r.json;
  };
  const server = (pod: string, code: string): Promise<void> => {
    const child = spawn('ip', ['netns', 'exec', box.nsName(pod), NODE, '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    return new Promise((resolve) =>
      child.stdout?.on('data', (b: Buffer) => b.toString().includes('listening') && resolve()),
    );
  };

  // Two node pairs, one per backend, measured in turns: on a busy machine both see the same load.
  const pair = (label: string, backend: string, i: number, more: string[] = []) => ({
    label,
    backend,
    more,
    nodes: [nodes[i]!, nodes[i + 1]!],
    pods: [`p${i}a`, `p${i}b`],
    dst: '',
    mtu: 0,
    df: '',
    pmtu: '',
  });
  const pairs = [
    pair('`routes`', 'routes', 0),
    pair('`vxlan`', 'vxlan', 2),
    pair('`vxlan`, `--mtu 1500`', 'vxlan', 4, ['--mtu', '1500']),
  ];
  // Twice: with vxlan a node routes another only once that one has published its VTEP.
  for (let pass = 0; pass < 2; pass++)
    for (const p of pairs) for (const n of p.nodes) await install(n, p.backend, p.more);
  for (const p of pairs) {
    const [a, b] = p.pods as [string, string];
    await box.addContainer(a);
    await box.addContainer(b);
    await cni(p.nodes[0]!, 'add', a);
    const res = (await cni(p.nodes[1]!, 'add', b)) as { ips: Array<{ address: string }> };
    p.dst = res.ips[0]?.address.split('/')[0] ?? '';
    p.mtu = ((await box.exec(a, ['ip', '-j', 'link', 'show', 'eth0'])).json as Array<{ mtu: number }>)[0]?.mtu ?? 0;
    await server(
      b,
      "require('net').createServer((s) => { let n = 0, t0 = 0n; s.on('data', (d) => { if (!t0) t0 = process.hrtime.bigint(); n += d.length; });" +
        " s.on('end', () => s.end(JSON.stringify({ n, s: Number(process.hrtime.bigint() - t0) / 1e9 }))); }).listen(5001, () => console.log('listening'));" +
        "require('net').createServer((s) => s.on('data', (d) => s.write(d))).listen(5002);",
    );
  }
  // A full-size packet with DF: sent whole (routes), refused by the pod's own stack (it knows its
  // MTU), or refused by its node with an ICMP "fragmentation needed" (the pod learns the path MTU).
  for (const p of pairs) {
    const r = await box.exec(p.pods[0]!, ['ping', '-n', '-c', '1', '-W', '2', '-M', 'do', '-s', '1472', p.dst]);
    const said = `${r.stdout}\n${r.stderr}`;
    const mtu = /mtu ?=? ?(\d+)/i.exec(said)?.[1];
    p.df =
      r.code === 0
        ? 'passes'
        : /local error|too long/i.test(said)
          ? `refused by the pod (mtu ${mtu})`
          : /frag needed/i.test(said)
            ? `node: frag needed (mtu ${mtu})`
            : `lost (${said.trim().split('\n').at(-1)})`;
  }
  const gbits = new Map<string, number[]>(pairs.map((p) => [p.label, []]));
  const rr = new Map<string, number[][]>(pairs.map((p) => [p.label, []]));
  const pings = new Map<string, number[]>(pairs.map((p) => [p.label, []]));
  for (let i = 0; i < ROUNDS; i++)
    for (const p of pairs) {
      const code =
        `const s = require('net').connect(5001, '${p.dst}'); const chunk = Buffer.alloc(1 << 16, 7); let left = ${MIB} * 16;` +
        "const pump = () => { while (left > 0) { left--; if (!s.write(chunk)) return s.once('drain', pump); } s.end(); };" +
        "s.on('connect', pump); let r = ''; s.on('data', (d) => (r += d)); s.on('end', () => console.log(r));";
      const out = await box.exec(p.pods[0]!, [NODE, '-e', code]);
      const { n, s } = JSON.parse(out.stdout) as { n: number; s: number };
      gbits.get(p.label)?.push((n * 8) / s / 1e9);
      const rrCode =
        `const s = require('net').connect(5002, '${p.dst}'); s.setNoDelay(true); const t = []; let i = 0, t0 = 0n;` +
        "const one = () => { t0 = process.hrtime.bigint(); s.write('x'); };" +
        "s.on('connect', one); s.on('data', () => { t.push(Number(process.hrtime.bigint() - t0) / 1000); if (++i < 5000) one(); else {" +
        ' t.sort((x, y) => x - y); console.log(JSON.stringify([t[2500], t[4950]])); s.destroy(); } });';
      rr.get(p.label)?.push(JSON.parse((await box.exec(p.pods[0]!, [NODE, '-e', rrCode])).stdout) as number[]);
      const ping = (await box.exec(p.pods[0]!, ['ping', '-q', '-c', '1000', '-i', '0.002', p.dst])).stdout;
      pings.get(p.label)?.push(Number(/= [\d.]+\/([\d.]+)\//.exec(ping)?.[1] ?? 'NaN'));
    }
  for (const p of pairs) {
    const route = (await box.exec(p.pods[0]!, ['ip', '-o', 'route', 'get', p.dst])).stdout;
    p.pmtu = /\bmtu (\d+)/.exec(route)?.[1] ?? `${p.mtu} (the link's)`;
  }
  const median = (xs: readonly number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;
  const results = pairs.map((p) => {
    const g = gbits.get(p.label) ?? [];
    const r = rr.get(p.label) ?? [];
    return `| ${p.label} | ${p.mtu} | ${p.df} | ${p.pmtu} | ${median(g).toFixed(2)} (${g.map((x) => x.toFixed(2)).join(', ')}) | ${median(r.map((x) => x[0] ?? NaN)).toFixed(0)} / ${median(r.map((x) => x[1] ?? NaN)).toFixed(0)} | ${median(pings.get(p.label) ?? []).toFixed(3)} |`;
  });
  process.stdout.write(
    [
      `pod to pod across two nodes, ${MIB} MiB per transfer, ${ROUNDS} rounds (one TCP connection each)`,
      '| backend | pod MTU | 1500-byte DF ping | path MTU after | throughput Gbit/s, median (each round) | TCP RR µs, medians of p50 / p99 | ping ms, median of avg |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...results,
      '',
    ].join('\n'),
  );
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`bench/overlay.ts: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const c of children) c.kill('SIGKILL');
    await sb?.destroy();
    await runOk(['true']);
  });
