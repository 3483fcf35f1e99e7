/**
 * The installer image, end to end: `make image` twice gives the same bytes; containerd (in a
 * private sandbox) imports it and runs it as the DaemonSet does: default command (installer
 * loop), host directories bind-mounted, the service account at the in-cluster path, NET_ADMIN,
 * host network, pod CIDR read from a fake API server. The installed plugins then serve a
 * container: bridge + portmap ADD, CHECK and DEL through the installed bin dir in a network
 * namespace of the sandbox, and everything is gone afterwards. The image holds every program
 * the watcher starts, in both iptables modes, and they run from it; and the DaemonSet's watcher
 * container (command, capabilities and mounts read from examples/kind/tscni.yaml) finds the
 * node's iptables mode and puts a pod's port forwarding back after `iptables -t nat -F` on the
 * node.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { REPO_ROOT, run } from '../testutil/sandbox';
import { ContainerdSandbox } from '../testutil/containerd-sandbox';
import { HOST_BIN_DIR, HOST_CONF_DIR, versionOf } from './image';
import { SERVICE_ACCOUNT_DIR } from './kube';
import { BUN, makePki, nodeObject, serviceAccountDir } from '../testutil/fake-kube';
import { waitFor } from '../testutil/wait';
import { daemonSetContainer } from '../testutil/yaml';
import { IPTABLES_MODES, IPTABLES_PROGRAMS, modeDir } from './iptables-mode';

const IMAGE = join(REPO_ROOT, 'dist', 'tscni-image.tar');
const REF = `localhost/tscni:${versionOf(REPO_ROOT)}`;
const TOKEN = 'image-test-token';
const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let cd: ContainerdSandbox | undefined;
let api: ChildProcess | undefined;
/** The node's CNI dirs the installer container filled (the first test). */
let binDir = '';
let confDir = '';
const mount = (src: string, dst: string, mode: string): string[] => [
  '--mount',
  `type=bind,src=${src},dst=${dst},options=rbind:${mode}`,
];
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
  binDir = join(node, 'opt-cni-bin');
  confDir = join(node, 'net.d');
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

it('holds every program the watcher starts, in both iptables modes, and they run from it', async () => {
  const sandbox = cd;
  if (!sandbox) throw new Error('no containerd sandbox (the test before failed)');
  const manifest = JSON.parse((await run(['tar', '-xOf', IMAGE, 'manifest.json'])).stdout) as Array<{
    Layers: string[];
  }>;
  const layer = manifest[0]?.Layers[0] ?? 'no layer';
  const listing = await run(['sh', '-c', 'tar -xOf "$0" "$1" | tar -tv', IMAGE, layer], { timeoutMs: 120_000 });
  expect(listing.code).toBe(0);
  const entries = new Map<string, string | undefined>(
    listing.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [path = '', target] = l.replace(/^(\S+\s+){5}/, '').split(' -> ');
        return [`/${path.replace(/\/$/, '')}`, target];
      }),
  );
  expect(entries.has('/usr/sbin/nft')).toBe(true);
  expect(entries.get('/var/run')).toBe('../run');
  for (const m of IPTABLES_MODES) {
    for (const p of IPTABLES_PROGRAMS) {
      const target = entries.get(`${modeDir(m)}/${p}`);
      expect({ p, target }).toEqual({ p, target: expect.stringMatching(new RegExp(`/xtables-${m}-multi$`)) });
      expect(entries.has(target ?? '')).toBe(true);
    }
  }
  // libxtables loads its extensions by name at run time: they must be in the image too.
  expect(
    [...entries.keys()].filter((p) => /\/xtables\/libxt_(comment|MASQUERADE|DNAT|multiport)\.so$/.test(p)),
  ).toHaveLength(4);

  // Each program runs from the image (its libraries and extensions found), in the sandbox's host network.
  let n = 0;
  const inImage = async (argv: string[]): Promise<string> => {
    const r = await sandbox.ctrOk(
      [
        'run',
        '--rm',
        '--net-host',
        '--cap-add',
        'CAP_NET_ADMIN',
        '--cap-add',
        'CAP_NET_RAW',
        '--cgroup',
        `${sandbox.cgroupParent}/programs`,
        REF,
        `programs-${n++}`,
        ...argv,
      ],
      'tscni',
      120_000,
    );
    return r.stdout;
  };
  for (const m of IPTABLES_MODES) {
    const dir = modeDir(m);
    const rule = ['-s', '10.125.0.2/32', '-m', 'comment', '--comment', `tscni-image-${m}`, '-j', 'MASQUERADE'];
    await inImage([`${dir}/iptables`, '-w', '5', '-t', 'nat', '-A', 'POSTROUTING', ...rule]);
    // Written in that mode, as the node's own tools of that mode read it.
    expect((await sandbox.exec([`iptables-${m}-save`, '-t', 'nat'])).stdout).toContain(`tscni-image-${m}`);
    expect(await inImage([`${dir}/iptables-save`, '-t', 'nat'])).toContain(`tscni-image-${m}`);
    await inImage([`${dir}/iptables`, '-w', '5', '-t', 'nat', '-D', 'POSTROUTING', ...rule]);
    expect((await sandbox.exec([`iptables-${m}-save`, '-t', 'nat'])).stdout).not.toContain(`tscni-image-${m}`);
    for (const p of ['iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore'])
      expect(await inImage([`${dir}/${p}`, '--version'])).toContain(m === 'nft' ? '(nf_tables)' : '(legacy)');
  }
  mark('programs');
});

it('the DaemonSet’s watcher container finds the node’s iptables mode and restores a flushed hostPort', async () => {
  const sandbox = cd;
  if (!sandbox || !binDir) throw new Error('no containerd sandbox or installed plugins (a test before failed)');
  const { container, volumes } = daemonSetContainer(join(REPO_ROOT, 'examples', 'kind', 'tscni.yaml'), 'watch');
  // The node: what it keeps in /run is the sandbox's own /run (a private tmpfs); the rest gets
  // directories of the sandbox.
  const cache = join(sandbox.dir, 'var-lib-cni');
  const elsewhere = new Map([
    ['/var/lib/cni', cache],
    ['/etc/cni/net.d', confDir],
  ]);
  const mounts: string[] = [];
  for (const m of container['volumeMounts'] as Array<Record<string, unknown>>) {
    const volume = volumes.get(String(m['name']));
    const host = String(volume?.['path']);
    const src = elsewhere.get(host) ?? host;
    expect(src === host ? host.startsWith('/run/') : true).toBe(true);
    await sandbox.exec(volume?.['type'] === 'FileOrCreate' ? ['touch', src] : ['mkdir', '-p', src]);
    const opts = [
      m['readOnly'] === true ? 'ro' : 'rw',
      ...(m['mountPropagation'] === 'HostToContainer' ? ['rslave'] : []),
    ];
    mounts.push(...mount(src, String(m['mountPath']), opts.join(':')));
  }
  const caps = ((container['securityContext'] as { capabilities: { add: string[] } }).capabilities.add ?? []).flatMap(
    (c) => ['--cap-add', `CAP_${c}`],
  );
  const argv = [...(container['command'] as string[]), ...(container['args'] as string[])];

  // The node's iptables mode is whatever `iptables` is here; kubelet would have left its hint.
  const nodeMode = (await sandbox.exec(['iptables', '--version'])).stdout.includes('nf_tables') ? 'nft' : 'legacy';
  const otherMode = nodeMode === 'nft' ? 'legacy' : 'nft';
  expect((await sandbox.exec(['iptables', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT'])).code).toBe(0);

  // A pod with a hostPort, set up by the installed plugins on the node.
  const env = {
    NETCONFPATH: confDir,
    CNI_PATH: binDir,
    CNI_CACHE_DIR: cache,
    CAP_ARGS: '{"portMappings":[{"hostPort":8081,"containerPort":80,"protocol":"tcp"}]}',
  };
  const tscni = (...args: string[]): ReturnType<typeof sandbox.exec> =>
    sandbox.exec([join(binDir, 'tscni'), ...args], { env });
  expect((await sandbox.exec(['ip', 'netns', 'add', 'pod2'])).code).toBe(0);
  const add = await tscni('add', 'tscni', '/run/netns/pod2');
  expect({ code: add.code, stderr: add.stderr }).toEqual({ code: 0, stderr: '' });
  const nat = async (): Promise<string[]> =>
    (await sandbox.exec(['iptables-save', '-t', 'nat'])).stdout
      .split('\n')
      .filter((l) => l.startsWith('-A ') || l.startsWith(':'))
      .map((l) => l.replace(/\[\d+:\d+\]$/, ''))
      .sort();
  const before = await nat();
  expect(before.join('\n')).toContain('--dport 8081 -j DNAT');

  const log = join(sandbox.dir, 'watch.log');
  const logText = (): string => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  await sandbox.ctrOk([
    'run',
    '-d',
    '--log-uri',
    `file://${log}`,
    '--net-host',
    ...caps,
    '--cgroup',
    `${sandbox.cgroupParent}/watch`,
    ...mounts,
    REF,
    'watch',
    ...argv,
  ]);
  try {
    await waitFor('the watcher’s first pass', () => logText().includes('pass for start'), 120_000);
    expect(logText()).toContain(
      `iptables: iptables-${nodeMode} (kubelet's chain KUBE-IPTABLES-HINT is in iptables-${nodeMode})`,
    );
    expect(logText()).toMatch(/watching nftables/);
    expect(logText()).toMatch(/pass for start: 0 restored, 1 intact, 0 gone, 0 skipped, 0 failed/);
    mark('watcher up');

    // Flushed on the node: the watcher, woken by the change notice, puts it back as it was.
    expect((await sandbox.exec(['iptables', '-t', 'nat', '-F'])).code).toBe(0);
    await waitFor('the hostPort rules to be back', async () => (await nat()).join('\n') === before.join('\n'), 120_000);
    await waitFor('the restore in the log', () =>
      /restored +tscni\/cnitool-[0-9a-f]+\/eth0 port forwarding/.test(logText()),
    );
    // Through the node's mode only: nothing of the pod in the other one.
    expect((await sandbox.exec([`iptables-${otherMode}-save`])).stdout).not.toContain('8081');
    mark('flush restored');
  } finally {
    process.stdout.write(`watcher log:\n${logText()}\n`);
    await sandbox.ctr(['task', 'kill', '-s', 'SIGTERM', 'watch']);
  }
  await waitFor('the watcher to stop on SIGTERM', async () =>
    /watch\s+\d+\s+STOPPED/.test((await sandbox.ctr(['task', 'ls'])).stdout),
  );
  expect(logText()).toContain('SIGTERM: stopping');
  await sandbox.ctrOk(['task', 'rm', 'watch']);
  await sandbox.ctrOk(['containers', 'rm', 'watch']);

  // The pod goes as usual: nothing of it left on the node.
  expect((await tscni('del', 'tscni', '/run/netns/pod2')).code).toBe(0);
  expect((await nat()).join('\n')).not.toContain('8081');
  expect((await sandbox.exec(['ip', 'netns', 'del', 'pod2'])).code).toBe(0);
});
