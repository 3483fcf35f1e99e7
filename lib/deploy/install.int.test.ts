/**
 * `tscni install` from the compiled executable, in a sandbox: files and links into temp dirs,
 * idempotence, an upgrade racing with plugin execs, the in-cluster path against a fake API
 * server (TLS with a throwaway CA made by openssl, on loopback inside the sandbox), masquerade
 * and routes in the sandbox's namespace, and the DaemonSet loop.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR, Sandbox, run, runOk, type RunResult } from '../testutil/sandbox';
import {
  makePki,
  nodeObject,
  serviceAccountDir,
  startFakeApi,
  withServiceAccount,
  type FakeApi,
  type Pki,
} from '../testutil/fake-kube';
import { waitFor as waitUntil } from '../testutil/wait';

const TSCNI = join(BIN_DIR, 'tscni');
const TOKEN = 'test-token-' + Math.random().toString(36).slice(2);
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

let sb: Sandbox;
let pki: Pki;
let api: FakeApi;
let sa: string;
let plugins: string[];

beforeAll(async () => {
  sb = await Sandbox.create('inst');
  plugins = (await runOk([TSCNI, 'plugins'])).stdout.trim().split('\n');
  pki = await makePki(join(sb.dir, 'pki'), ['127.0.0.1', '::1']);
  sa = serviceAccountDir(join(sb.dir, 'sa'), TOKEN, readFileSync(pki.caCert, 'utf8'));
  writeFileSync(
    join(sb.dir, 'nodes.json'),
    JSON.stringify([
      nodeObject('node-a', ['10.244.0.0/24', 'fd00:10:244::/64'], '172.18.0.2'),
      nodeObject('node-b', ['10.244.1.0/24', 'fd00:10:244:1::/64'], '172.18.0.3'),
      nodeObject('node-c', ['10.244.2.0/24', 'fd00:10:244:2::/64'], '172.18.0.4'),
      { metadata: { name: 'node-new' }, spec: {} },
    ]),
  );
  // The sandbox is "node-b": its InternalIP on an underlay link, so routes via the others are on-link.
  // (A veth pair: this kernel may lack the dummy link type.)
  for (const cmd of [
    ['link', 'add', 'underlay0', 'type', 'veth', 'peer', 'name', 'underlay1'],
    ['addr', 'add', '172.18.0.3/24', 'dev', 'underlay0'],
    ['link', 'set', 'underlay1', 'up'],
    ['link', 'set', 'underlay0', 'up'],
  ])
    await runOk(['ip', '-n', sb.hostNs, ...cmd]);
  api = await startFakeApi(sb.hostNs, {
    host: '::',
    port: 6443,
    pki,
    nodesFile: join(sb.dir, 'nodes.json'),
    token: TOKEN,
    dir: sb.dir,
  });
});

afterAll(async () => {
  await api?.stop();
  await sb?.destroy();
});

/** Runs `tscni install` (from `exe`) inside the sandbox with only the given environment. */
function install(args: readonly string[], env: Record<string, string> = {}, exe = TSCNI): Promise<RunResult> {
  const vars = Object.entries({ PATH, ...env }).map(([k, v]) => `${k}=${v}`);
  return sb.exec('host', ['env', '-i', ...vars, exe, 'install', ...args]);
}

/** Same, with the service account at the in-cluster path and the API's env vars set. */
function installInCluster(args: readonly string[], env: Record<string, string> = {}, saDir = sa): Promise<RunResult> {
  const vars = Object.entries({
    PATH,
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBERNETES_SERVICE_PORT: '6443',
    NODE_NAME: 'node-b',
    ...env,
  }).map(([k, v]) => `${k}=${v}`);
  return sb.exec('host', ['env', '-i', ...vars, ...withServiceAccount(saDir, [TSCNI, 'install', ...args])]);
}

const dirs = (name: string): { bin: string; conf: string; args: string[] } => {
  const bin = join(sb.dir, name, 'opt-cni-bin');
  const conf = join(sb.dir, name, 'net.d');
  return { bin, conf, args: ['--bin-dir', bin, '--conf-dir', conf, '--data-dir', join(sb.dir, name, 'ipam')] };
};

describe('files', () => {
  it('installs the executable, a link per plugin and the conflist; a re-run rewrites nothing', async () => {
    const d = dirs('plain');
    const first = await install([...d.args, '--pod-cidr', '10.99.0.0/24,fd00:99::/64']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`${join(d.bin, 'tscni')}: created`);
    expect(readdirSync(d.bin).sort()).toEqual(['tscni', ...plugins].sort());
    for (const p of plugins) expect(readlinkSync(join(d.bin, p))).toBe('tscni');
    expect(statSync(join(d.bin, 'tscni')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(d.bin, 'tscni')).equals(readFileSync(TSCNI))).toBe(true);
    const conf = JSON.parse(readFileSync(join(d.conf, '10-tscni.conflist'), 'utf8')) as { plugins: unknown[] };
    expect(conf.plugins[0]).toMatchObject({
      ipMasq: true,
      ipam: { ranges: [[{ subnet: '10.99.0.0/24' }], [{ subnet: 'fd00:99::/64' }]] },
    });

    const stamp = (): string[] =>
      [...readdirSync(d.bin).map((f) => join(d.bin, f)), join(d.conf, '10-tscni.conflist')].map((f) => {
        const st = lstatSync(f);
        return `${f} ${st.ino} ${st.mtimeMs}`;
      });
    const before = stamp();
    const again = await install([...d.args, '--pod-cidr', '10.99.0.0/24,fd00:99::/64']);
    expect(again.code).toBe(0);
    expect(again.stdout.match(/: unchanged/g)?.length).toBe(plugins.length + 2);
    expect(stamp()).toEqual(before);

    // The installed executable installs itself: its own file is the source, nothing changes.
    const self = await install([...d.args, '--pod-cidr', '10.99.0.0/24,fd00:99::/64'], {}, join(d.bin, 'bridge'));
    expect(self.stdout).not.toContain('tscni: updated');
    expect(stamp()).toEqual(before);

    // A changed CIDR rewrites only the conflist.
    const changed = await install([...d.args, '--pod-cidr', '10.99.1.0/24']);
    expect(changed.stdout).toContain('10-tscni.conflist: updated');
    expect(changed.stdout.match(/: unchanged/g)?.length).toBe(plugins.length + 1);
  });

  it('refuses traversal and says which step failed', async () => {
    const d = dirs('bad');
    const trav = await install([...d.args, '--conf-name', '../../etc/x.conflist', '--pod-cidr', '10.99.0.0/24']);
    expect(trav.code).toBe(2);
    expect(trav.stderr).toMatch(/plain file name/);
    mkdirSync(join(d.bin, 'bridge'), { recursive: true });
    const blocked = await install([...d.args, '--pod-cidr', '10.99.0.0/24']);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain(`install ${join(d.bin, 'bridge')}: a directory is in the way`);
    expect(() => statSync(join(d.conf, '10-tscni.conflist'))).toThrow();
  });

  it('an upgrade never shows a runtime a partial plugin: execs racing with installs all succeed', async () => {
    const d = dirs('race');
    // Two working "versions" of the executable: ours, and the reference bridge (an ELF binary too; a
    // script would not do: its interpreter re-opens the path, which may be the other version by then).
    const alt = join(REFERENCE_DIR, 'bridge');
    const copy = join(sb.dir, 'tscni-copy');
    copyFileSync(TSCNI, copy);
    expect((await install([...d.args, '--pod-cidr', '10.98.0.0/24', '--source', copy])).code).toBe(0);
    let stop = false;
    const failures: string[] = [];
    let execs = 0;
    const hammer = async (): Promise<void> => {
      while (!stop) {
        const r = await run([join(d.bin, 'bridge')], { env: { CNI_COMMAND: 'VERSION', PATH } });
        execs++;
        if (r.code !== 0 || !r.stdout.includes('"cniVersion"')) failures.push(`${r.code} ${r.stderr}`);
      }
    };
    const runners = [hammer(), hammer(), hammer()];
    for (let i = 0; i < 6; i++) {
      const r = await install([...d.args, '--pod-cidr', '10.98.0.0/24', '--source', i % 2 ? copy : alt]);
      expect(r.stdout).toContain('tscni: updated');
    }
    stop = true;
    await Promise.all(runners);
    expect(failures).toEqual([]);
    expect(execs).toBeGreaterThan(6);
    expect(readdirSync(d.bin).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});

describe('in-cluster', () => {
  it('reads the node from the API (TLS with the service-account CA), programs masquerade and routes', async () => {
    const d = dirs('cluster');
    const r = await installInCluster([...d.args, '--routes']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('pod CIDRs: 10.244.1.0/24, fd00:10:244:1::/64');
    const conf = readFileSync(join(d.conf, '10-tscni.conflist'), 'utf8');
    expect(JSON.parse(conf)).toMatchObject({
      plugins: [
        {
          type: 'bridge',
          ipMasq: false,
          ipam: { ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]] },
        },
        { type: 'portmap' },
      ],
    });
    const log = readFileSync(api.log, 'utf8');
    expect(log).toContain('GET /api/v1/nodes/node-b auth=ok');
    expect(log).toContain('GET /api/v1/nodes?limit=500 auth=ok');

    const table = (await sb.exec('host', ['nft', 'list', 'table', 'inet', 'tscni_masq'])).stdout.replace(/\s+/g, ' ');
    expect(table).toContain('10.244.0.0/24, 10.244.1.0/24, 10.244.2.0/24');
    expect(table).toContain('ip saddr 10.244.1.0/24 ip daddr != @cluster4');
    expect(table).toContain('ip6 saddr fd00:10:244:1::/64 ip6 daddr != @cluster6');
    const routes = (await sb.exec('host', ['ip', 'route', 'show', 'proto', '116'])).stdout;
    expect(routes).toContain('10.244.0.0/24 via 172.18.0.2 dev underlay0');
    expect(routes).toContain('10.244.2.0/24 via 172.18.0.4 dev underlay0');
    expect(routes).not.toContain('10.244.1.0/24');

    // Again: nothing changes (table hash, routes, files).
    const again = await installInCluster([...d.args, '--routes']);
    expect(again.stdout).toContain('masquerade: nft table inet tscni_masq: unchanged');
    expect(again.stdout).not.toContain('route ');
    // A node leaves: its route goes.
    const nodes = JSON.parse(readFileSync(join(sb.dir, 'nodes.json'), 'utf8')) as unknown[];
    writeFileSync(join(sb.dir, 'nodes.json'), JSON.stringify(nodes.filter((_, i) => i !== 2)));
    const left = await installInCluster([...d.args, '--routes']);
    writeFileSync(join(sb.dir, 'nodes.json'), JSON.stringify(nodes));
    expect(left.stdout).toContain('route 10.244.2.0/24: removed');
    expect(left.stdout).toContain('masquerade: nft table inet tscni_masq: updated');
    expect((await sb.exec('host', ['ip', 'route', 'show', 'proto', '116'])).stdout).not.toContain('10.244.2.0');
    // Another masquerade mode removes the table.
    const off = await installInCluster([...d.args, '--masq', 'off']);
    expect(off.stdout).toContain('removed table inet tscni_masq');
    expect((await sb.exec('host', ['nft', 'list', 'table', 'inet', 'tscni_masq'])).code).not.toBe(0);
  });

  it('talks to an IPv6 API address', async () => {
    const d = dirs('v6');
    const r = await installInCluster([...d.args, '--masq', 'off'], { KUBERNETES_SERVICE_HOST: '::1' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('pod CIDRs: 10.244.1.0/24, fd00:10:244:1::/64');
  });

  it('reaches the API at --api-server, with no service address in the environment (no kube-proxy needed)', async () => {
    const d = dirs('endpoint');
    const r = await installInCluster([...d.args, '--masq', 'off', '--api-server', 'https://[::1]:6443'], {
      KUBERNETES_SERVICE_HOST: '',
      KUBERNETES_SERVICE_PORT: '',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('pod CIDRs: 10.244.1.0/24, fd00:10:244:1::/64');
  });

  it('refuses a server its CA did not sign, a wrong token, an unknown node, a node without podCIDR', async () => {
    const d = dirs('fail');
    const otherSa = serviceAccountDir(join(sb.dir, 'sa-other'), TOKEN, readFileSync(pki.otherCaCert, 'utf8'));
    const badCa = await installInCluster(d.args, {}, otherSa);
    expect(badCa.code).toBe(1);
    expect(badCa.stderr).toMatch(
      /read node node-b: GET https:\/\/127\.0\.0\.1:6443\/api\/v1\/nodes\/node-b: .*(certificate|issuer|verify)/i,
    );
    const wrongToken = serviceAccountDir(join(sb.dir, 'sa-token'), 'nope', readFileSync(pki.caCert, 'utf8'));
    const unauth = await installInCluster(d.args, {}, wrongToken);
    expect(unauth.stderr).toContain('HTTP 401: Unauthorized');
    expect((await installInCluster(d.args, { NODE_NAME: 'node-x' })).stderr).toContain(
      'HTTP 404: nodes "node-x" not found',
    );
    expect((await installInCluster(d.args, { NODE_NAME: 'node-new' })).stderr).toContain(
      'node node-new has no spec.podCIDRs yet',
    );
    const outside = await install(d.args, { NODE_NAME: 'node-b' });
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain('not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT');
    expect(() => statSync(join(d.conf, '10-tscni.conflist'))).toThrow();
  });
});

describe('--loop', () => {
  it('puts a deleted conflist back and exits on SIGTERM', async () => {
    const d = dirs('loop');
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        sb.hostNs,
        TSCNI,
        'install',
        ...d.args,
        '--pod-cidr',
        '10.97.0.0/24',
        '--loop',
        '--interval',
        '1',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH } },
    );
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const conf = join(d.conf, '10-tscni.conflist');
      const waitFor = (what: string, ok: () => boolean): Promise<void> =>
        waitUntil(what, ok).catch((e: Error) => Promise.reject(new Error(`${e.message}; output:\n${out}`)));
      const exists = (): boolean =>
        readdirSync(d.conf, { withFileTypes: true }).some((e) => e.name === '10-tscni.conflist');
      const created = (): number => out.match(/10-tscni\.conflist: created/g)?.length ?? 0;
      await waitFor('the first round', () => out.includes('installed; re-checking every 1 s'));
      rmSync(conf);
      // The loop writes the file before it reports it: wait for the report, then check both.
      await waitFor('the loop to report the conflist created again', () => created() >= 2);
      expect(exists()).toBe(true);
      expect(created()).toBe(2);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
