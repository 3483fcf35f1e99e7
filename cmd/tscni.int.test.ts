/** bin/tscni (cnitool's interface) on a conflist of our plugins, in a sandbox: add, check, status, gc (ours), del and libcni's cache. */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REPO_ROOT, Sandbox, run } from '../lib/testutil/sandbox';

let sb: Sandbox;
let env: Record<string, string> = {};
const netns = (): string => `/run/netns/${sb.nsName('c1')}`;
const cid = (): string => `cnitool-${createHash('sha512').update(netns()).digest('hex').slice(0, 20)}`;
const tscni = (...args: string[]): ReturnType<Sandbox['exec']> =>
  sb.exec('host', ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), join(BIN_DIR, 'tscni'), ...args]);

beforeAll(async () => {
  sb = await Sandbox.create('cli');
  await sb.addContainer('c1');
  mkdirSync(join(sb.dir, 'net.d'));
  writeFileSync(
    join(sb.dir, 'net.d', '10-clinet.conflist'),
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'clinet',
      plugins: [
        {
          type: 'bridge',
          bridge: 'clibr0',
          isGateway: true,
          ipMasq: true,
          ipam: { type: 'host-local', subnet: '10.70.0.0/24', dataDir: join(sb.dir, 'leases') },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }),
  );
  env = {
    NETCONFPATH: join(sb.dir, 'net.d'),
    CNI_PATH: BIN_DIR,
    CNI_CACHE_DIR: join(sb.dir, 'cache'),
    CAP_ARGS: '{"portMappings":[{"hostPort":8088,"containerPort":80,"protocol":"tcp"}]}',
  };
});
afterAll(async () => sb.destroy());

it('add prints the result and writes the libcni cache file', async () => {
  const r = await tscni('add', 'clinet', netns());
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(JSON.stringify(r.json)).toContain('10.70.0.2/24');
  const file = join(sb.dir, 'cache', 'results', `clinet-${cid()}-eth0`);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const cache = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  expect(cache).toMatchObject({
    kind: 'cniCacheV1',
    containerId: cid(),
    ifName: 'eth0',
    networkName: 'clinet',
    netns: netns(),
  });
  expect(cache['capabilityArgs']).toEqual({ portMappings: [{ hostPort: 8088, containerPort: 80, protocol: 'tcp' }] });
  expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).toContain('--dports 8088');
});

it('check and status succeed', async () => {
  expect((await tscni('check', 'clinet', netns())).code).toBe(0);
  expect((await tscni('status', 'clinet')).code).toBe(0);
});

it('gc keeps a live container, and collects it once its netns is gone, leaving nothing', async () => {
  const kept = await tscni('gc', '--no-runtimes', 'clinet');
  expect(kept.code).toBe(0);
  expect(kept.stdout).toBe(`kept      clinet/${cid()}/eth0: its netns ${netns()} exists\n`);
  expect(readdirSync(join(sb.dir, 'cache', 'results'))).toHaveLength(1);
  await sb.removeContainer('c1');
  const r = await tscni('gc', '--no-runtimes', 'clinet');
  expect(r.stderr).toBe('tscni gc: 1 collected, 0 kept, 0 failed\n');
  expect(r.code).toBe(0);
  await sb.addContainer('c1');
  expect(readdirSync(join(sb.dir, 'cache', 'results'))).toEqual([]);
  expect(readdirSync(join(sb.dir, 'leases', 'clinet')).filter((f) => f.startsWith('10.'))).toEqual([]);
  expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).not.toContain(cid());
});

it('add again, then del cleans up; bad input is an error on stderr with exit 1', async () => {
  expect((await tscni('add', 'clinet', netns())).code).toBe(0);
  expect((await tscni('del', 'clinet', netns())).code).toBe(0);
  expect((await sb.exec('c1', ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
  const bad = await tscni('add', 'nosuchnet', netns());
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/no net configuration with name "nosuchnet"/);
});

it('works on a machine without Node.js: node hidden in a private mount namespace', async () => {
  // `node` becomes /dev/null (not executable) for everything below; our executable must not care.
  const withoutNode = (argv: readonly string[]): ReturnType<Sandbox['exec']> =>
    sb.exec('host', [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --bind /dev/null "$0" && exec "$@"',
      realpathSync(process.execPath),
      'env',
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      ...argv,
    ]);
  expect((await withoutNode([process.execPath, '-e', '0'])).code).not.toBe(0);
  for (const plugin of ['bridge', 'host-local', 'portmap']) {
    const v = await withoutNode(['CNI_COMMAND=VERSION', join(BIN_DIR, plugin)]);
    expect(v.code).toBe(0);
    expect(v.json).toMatchObject({ cniVersion: '1.1.0' });
  }
  const tscniBin = join(BIN_DIR, 'tscni');
  const add = await withoutNode([tscniBin, 'add', 'clinet', netns()]);
  expect(add.stderr).toBe('');
  expect(JSON.stringify(add.json)).toContain('10.70.0.');
  expect((await withoutNode([tscniBin, 'check', 'clinet', netns()])).code).toBe(0);
  expect((await withoutNode([tscniBin, 'status', 'clinet'])).code).toBe(0);
  expect((await withoutNode([tscniBin, 'del', 'clinet', netns()])).code).toBe(0);
  expect((await withoutNode([tscniBin, 'gc', '--no-runtimes', 'clinet'])).code).toBe(0);
  expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).not.toContain(cid());
});

it('make install and make dist ship the executable with its plugin links', async () => {
  const prefix = join(sb.dir, 'opt-cni-bin');
  const make = (...args: string[]): ReturnType<typeof run> => run(['make', '-s', '-C', REPO_ROOT, ...args]);
  expect((await make('install', `PREFIX=${prefix}`)).code).toBe(0);
  const plugins = (await run([join(BIN_DIR, 'tscni'), 'plugins'])).stdout.trim().split('\n');
  expect(plugins).toEqual(expect.arrayContaining(['bridge', 'host-local', 'portmap']));
  for (const plugin of plugins) {
    expect(readlinkSync(join(prefix, plugin))).toBe('tscni');
    const v = await run([join(prefix, plugin)], { env: { CNI_COMMAND: 'VERSION' } });
    expect(v.json).toMatchObject({ cniVersion: '1.1.0' });
  }
  const dist = await make('dist');
  expect(dist.code).toBe(0);
  const archive = /(dist\/\S+\.tar\.gz)/.exec(dist.stdout)?.[1] ?? '';
  const out = join(sb.dir, 'unpacked');
  mkdirSync(out);
  expect((await run(['tar', '-C', out, '-xzf', join(REPO_ROOT, archive)])).code).toBe(0);
  const [top] = readdirSync(out);
  expect((await run(['sha256sum', '-c', 'SHA256SUMS'], { cwd: join(out, top ?? '') })).code).toBe(0);
  expect(readdirSync(join(out, top ?? '')).sort()).toEqual(['LICENSE', 'SHA256SUMS', 'tscni', ...plugins].sort());
});

it('--help prints the usage and exits 0; bad usage exits 2 naming what is wrong', async () => {
  const tscniRun = (...argv: string[]): ReturnType<typeof run> => run([join(BIN_DIR, 'tscni'), ...argv]);
  for (const [argv, first] of [
    [['--help'], 'usage: tscni {add|check|del}'],
    [['-h'], 'usage: tscni {add|check|del}'],
    [['add', 'net', '/run/netns/x', '--help'], 'usage: tscni {add|check|del}'],
    [['reload', '--help'], 'usage: tscni reload'],
    [['reload', '--watch', '-h'], 'usage: tscni reload'],
    [['gc', '--help'], 'usage: tscni gc'],
    [['install', '--help'], 'usage: tscni install'],
    [['install', '-h'], 'usage: tscni install'],
  ] as const) {
    const r = await tscniRun(...argv);
    expect({ argv, code: r.code, usage: r.stdout.startsWith(first) }).toEqual({ argv, code: 0, usage: true });
  }
  for (const [argv, message] of [
    [['--frob'], /^unknown option --frob\nusage: tscni/],
    [['reload', '--frob'], /^unknown option --frob\nusage: tscni reload/],
    [['reload', '--cache-dir'], /^--cache-dir needs a value/],
    [['reload', '--interval', '5'], /^--interval goes with --watch\nusage: tscni reload/],
    [['reload', '--watch', '--interval=-1'], /^--interval needs a number ≥ 0, not "-1"/],
    [['reload', '--watch', '--wake', 'nftables,frob'], /^--wake takes nftables, firewalld, not "frob"/],
    [['reload', '--watch', '--dry-run'], /^--watch restores; it takes no --dry-run/],
    [['reload', '--iptables', 'frob'], /^--iptables takes auto, nft or legacy, not "frob"/],
    [['gc', '--frob'], /^unknown option --frob\nusage: tscni gc/],
    [['gc', '--min-age', 'soon'], /^--min-age needs a number ≥ 0, not "soon"/],
    [['install', '--frob'], /^tscni install: unknown option --frob\nusage: tscni install/],
    [[], /^usage: tscni/],
    [['add', 'net'], /^tscni add: missing arguments/],
    [['frob', 'net'], /^unknown command "frob"/],
  ] as const) {
    const r = await tscniRun(...argv);
    expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
    expect(r.stderr).toMatch(message);
  }
  // --iptables picks among the installer image's iptables: outside the image it says so, and fails.
  if (!existsSync('/opt/tscni/iptables')) {
    const r = await tscniRun('reload', '--dry-run', '--iptables', 'auto');
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 1,
      stderr: "--iptables: no /opt/tscni/iptables here (the installer image's iptables); on a node, leave it out\n",
    });
  }
});
