/**
 * The installer image, end to end: `make image` twice gives the same bytes; containerd (in a
 * private sandbox) imports it and runs it as the DaemonSet does: default command (installer
 * loop), host directories bind-mounted, the service account at the in-cluster path, NET_ADMIN,
 * host network, pod CIDR read from a fake API server. The installed plugins then serve a
 * container: bridge + portmap ADD, CHECK and DEL through the installed bin dir in a network
 * namespace of the sandbox, and everything is gone afterwards.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { REPO_ROOT, run } from '../testutil/sandbox';
import { ContainerdSandbox } from '../testutil/containerd-sandbox';
import { HOST_BIN_DIR, HOST_CONF_DIR, versionOf } from './image';
import { SERVICE_ACCOUNT_DIR } from './kube';
import { BUN, makePki, nodeObject, serviceAccountDir } from '../testutil/fake-kube';

const IMAGE = join(REPO_ROOT, 'dist', 'tscni-image.tar');
const REF = `localhost/tscni:${versionOf(REPO_ROOT)}`;
const TOKEN = 'image-test-token';
const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let cd: ContainerdSandbox | undefined;
let api: ChildProcess | undefined;
const t0 = Date.now();
const timings: string[] = [];
const mark = (what: string): void => void timings.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)} s`);

beforeAll(async () => {
  const make = await run(['make', '-s', '-C', REPO_ROOT, 'image'], { timeoutMs: 120_000 });
  if (make.code !== 0) throw new Error(`make image failed: ${make.stderr}${make.stdout}`);
  mark('make image');
});

afterAll(async () => {
  api?.kill('SIGKILL');
  await cd?.destroy();
  process.stdout.write(`image test timings: ${timings.join(', ')}\n`);
});

it('is deterministic: a second build gives the same archive', async () => {
  const first = sha(IMAGE);
  const again = await run(['make', '-s', '-C', REPO_ROOT, 'image'], { timeoutMs: 120_000 });
  expect(again.code).toBe(0);
  expect(sha(IMAGE)).toBe(first);
  mark('rebuild');
});

it('runs in containerd as the DaemonSet does and its plugins serve a container', async () => {
  cd = await ContainerdSandbox.start();
  const sandbox = cd;
  mark('containerd up');
  const imported = await sandbox.ctrOk(['images', 'import', IMAGE], 'tscni', 120_000);
  expect(imported.stdout + imported.stderr).not.toMatch(/error/i);
  const images = (await sandbox.ctrOk(['images', 'ls'])).stdout;
  const index = JSON.parse((await run(['tar', '-xOf', IMAGE, 'index.json'])).stdout) as {
    manifests: Array<{ digest: string }>;
  };
  expect(images).toContain(REF);
  expect(images).toContain(index.manifests[0]?.digest ?? 'no digest');
  mark('import');

  // The node's directories (empty), a service account and a fake API server on loopback.
  const node = join(sandbox.dir, 'node');
  const binDir = join(node, 'opt-cni-bin');
  const confDir = join(node, 'net.d');
  for (const d of [binDir, confDir]) mkdirSync(d, { recursive: true });
  const pki = await makePki(join(sandbox.dir, 'pki'), ['127.0.0.1']);
  const sa = serviceAccountDir(join(sandbox.dir, 'sa'), TOKEN, readFileSync(pki.caCert, 'utf8'));
  const nodes = join(sandbox.dir, 'nodes.json');
  writeFileSync(nodes, JSON.stringify([nodeObject('node-1', ['10.123.0.0/24'], '10.0.0.1')]));
  const apiLog = join(sandbox.dir, 'api.log');
  writeFileSync(apiLog, '');
  const fakeApi = join(REPO_ROOT, 'lib', 'deploy', 'testdata', 'fake-apiserver.ts');
  api = sandbox.spawnInNet([BUN, fakeApi, '127.0.0.1', '6443', pki.serverCert, pki.serverKey, nodes, TOKEN, apiLog]);
  await new Promise<void>((resolve, reject) => {
    api?.stdout?.on('data', (b: Buffer) => b.toString().includes('listening') && resolve());
    api?.once('exit', (c) => reject(new Error(`fake API server exited ${c}`)));
  });

  // As the DaemonSet: default entrypoint and command, hostPath mounts, downward-API NODE_NAME.
  const mount = (src: string, dst: string, mode: string): string[] => [
    '--mount',
    `type=bind,src=${src},dst=${dst},options=rbind:${mode}`,
  ];
  await sandbox.ctrOk([
    'run',
    '-d',
    // The DaemonSet's securityContext: not privileged, NET_ADMIN added (nft, routes).
    '--cap-add',
    'CAP_NET_ADMIN',
    '--net-host',
    '--cgroup',
    `${sandbox.cgroupParent}/installer`,
    '--env',
    'KUBERNETES_SERVICE_HOST=127.0.0.1',
    '--env',
    'KUBERNETES_SERVICE_PORT=6443',
    '--env',
    'NODE_NAME=node-1',
    ...mount(binDir, HOST_BIN_DIR, 'rw'),
    ...mount(confDir, HOST_CONF_DIR, 'rw'),
    ...mount(sa, SERVICE_ACCOUNT_DIR, 'ro'),
    REF,
    'installer',
  ]);
  const conf = join(confDir, '10-tscni.conflist');
  for (let i = 0; i < 200 && !readdirSync(confDir).includes('10-tscni.conflist'); i++) await sleep(50);
  expect(readdirSync(confDir)).toEqual(['10-tscni.conflist']);
  mark('installed by the container');
  // The loop lists the nodes (and watches them) rather than reading its own node alone.
  expect(readFileSync(apiLog, 'utf8')).toContain('GET /api/v1/nodes?limit=500 auth=ok');
  const plugins = (await run([join(REPO_ROOT, 'bin', 'tscni'), 'plugins'])).stdout.trim().split('\n');
  expect(readdirSync(binDir).sort()).toEqual(['tscni', ...plugins].sort());
  for (const p of plugins) expect(readlinkSync(join(binDir, p))).toBe('tscni');
  expect(sha(join(binDir, 'tscni'))).toBe(sha(join(REPO_ROOT, 'bin', 'tscni')));
  expect(JSON.parse(readFileSync(conf, 'utf8'))).toMatchObject({
    plugins: [
      { type: 'bridge', ipMasq: false, ipam: { ranges: [[{ subnet: '10.123.0.0/24' }]] } },
      { type: 'portmap' },
    ],
  });
  // nft from the image programmed the masquerade in the (host) network namespace.
  const masq = await sandbox.exec(['nft', 'list', 'table', 'inet', 'tscni_masq']);
  expect(masq.stdout).toContain('ip saddr 10.123.0.0/24');

  // PID 1 of the container handles SIGTERM: the task stops at once.
  await sandbox.ctrOk(['task', 'kill', '-s', 'SIGTERM', 'installer']);
  let status = '';
  for (let i = 0; i < 100; i++) {
    status = (await sandbox.ctr(['task', 'ls'])).stdout;
    if (/installer\s+\d+\s+STOPPED/.test(status)) break;
    await sleep(50);
  }
  expect(status).toMatch(/installer\s+\d+\s+STOPPED/);
  await sandbox.ctrOk(['task', 'rm', 'installer']);
  await sandbox.ctrOk(['containers', 'rm', 'installer']);
  mark('stopped');

  // Run by hand (README). ctr replaces entrypoint and command by what follows the ID (Kubernetes
  // `args` and `podman run IMAGE ARGS` replace only the command).
  const once = join(sandbox.dir, 'once');
  for (const d of ['bin', 'conf']) mkdirSync(join(once, d), { recursive: true });
  const manual = await sandbox.ctrOk([
    'run',
    '--rm',
    '--cgroup',
    `${sandbox.cgroupParent}/once`,
    ...mount(join(once, 'bin'), HOST_BIN_DIR, 'rw'),
    ...mount(join(once, 'conf'), HOST_CONF_DIR, 'rw'),
    REF,
    'tscni-install',
    '/opt/tscni/bin/tscni',
    'install',
    '--bin-dir',
    HOST_BIN_DIR,
    '--conf-dir',
    HOST_CONF_DIR,
    '--pod-cidr',
    '10.124.0.0/24',
    '--once',
  ]);
  expect(manual.stdout).toContain(`${HOST_CONF_DIR}/10-tscni.conflist: created`);
  expect(readFileSync(join(once, 'conf', '10-tscni.conflist'), 'utf8')).toContain('"ipMasq": true');
  mark('run once');

  // The installed plugins serve a container: ADD, CHECK, traffic, DEL, through the installed bin dir.
  const cache = join(sandbox.dir, 'cni-cache');
  const env = {
    NETCONFPATH: confDir,
    CNI_PATH: binDir,
    CNI_CACHE_DIR: cache,
    CAP_ARGS: '{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}',
  };
  const tscni = (...args: string[]): ReturnType<typeof sandbox.exec> =>
    sandbox.exec([join(binDir, 'tscni'), ...args], { env });
  expect((await sandbox.exec(['ip', 'netns', 'add', 'pod1'])).code).toBe(0);
  const add = await tscni('add', 'tscni', '/run/netns/pod1');
  expect(add.stderr).toBe('');
  expect(add.code).toBe(0);
  expect(JSON.stringify(add.json)).toContain('10.123.0.2/24');
  expect((await tscni('check', 'tscni', '/run/netns/pod1')).code).toBe(0);
  const ping = await sandbox.exec(['ip', 'netns', 'exec', 'pod1', 'ping', '-c', '1', '-W', '2', '10.123.0.1']);
  expect(ping.code).toBe(0);
  const nat = (await sandbox.exec(['iptables-save', '-t', 'nat'])).stdout;
  expect(nat).toContain('--dport 8080 -j DNAT --to-destination 10.123.0.2:80');
  const del = await tscni('del', 'tscni', '/run/netns/pod1');
  expect(del.code).toBe(0);
  expect((await sandbox.exec(['ip', '-o', 'link', 'show', 'type', 'veth'])).stdout).toBe('');
  const leases = await sandbox.exec(['ls', '/run/cni-ipam-state/tscni']);
  expect(leases.stdout.split('\n').filter((f) => /^\d/.test(f))).toEqual([]);
  expect((await sandbox.exec(['iptables-save', '-t', 'nat'])).stdout).not.toContain('10.123.0.2');
  mark('ADD/CHECK/DEL');
});
