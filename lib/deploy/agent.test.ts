/** The node agent parts: masquerade table, routes to other nodes, and one install round with fakes. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingRunner } from '../exec/recording';
import { ExecError } from '../exec/runner';
import { FakeNodeNet } from '../testutil/node-net';
import { installOnce, RoundFailed, type InstallDeps } from './install';
import type { HttpRequest, HttpResponse } from './kube';
import { applyMasq, outermost, removeMasq, renderMasq } from './masq';
import { parseInstallArgs } from './options';
import { planRoutes, ROUTE_PROTOCOL, syncRoutes, type RouteTable } from './routes';
import { MAC_ANNOTATION, VTEP_ANNOTATION, vtepMac } from './vxlan';

describe('masquerade table', () => {
  it('keeps only the outermost CIDRs per family', () => {
    expect(
      outermost(['10.244.1.0/24', '10.244.0.0/16', '10.244.2.0/24', 'fd00::/56', 'fd00:0:0:1::/64', '10.0.0.0/24']),
    ).toEqual(['10.0.0.0/24', '10.244.0.0/16', 'fd00::/56']);
  });

  it('masquerades pod → outside except to the cluster CIDRs, per family, replacing the table atomically', () => {
    const { script, hash } = renderMasq(['10.244.1.0/24', 'fd00:10:244:1::/64'], ['10.244.0.0/16', 'fd00:10:244::/56']);
    expect(script).toBe(
      [
        'table inet tscni_masq {}',
        'delete table inet tscni_masq',
        'table inet tscni_masq {',
        `  comment "tscni install ${hash}"`,
        '  set cluster4 { type ipv4_addr; flags interval; elements = { 10.244.0.0/16 } }',
        '  set cluster6 { type ipv6_addr; flags interval; elements = { fd00:10:244::/56 } }',
        '  chain postrouting {',
        '    type nat hook postrouting priority 100; policy accept;',
        '    ip saddr { 10.244.1.0/24 } ip daddr != @cluster4 ip daddr != 224.0.0.0/4 masquerade comment "pod to outside"',
        '    ip6 saddr { fd00:10:244:1::/64 } ip6 daddr != @cluster6 ip6 daddr != ff00::/8 masquerade comment "pod to outside"',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    expect(renderMasq(['10.244.1.0/24'], ['10.244.0.0/16']).script).not.toContain('ip6');
  });

  it('is not rewritten when the installed table carries the same hash', async () => {
    const { hash } = renderMasq(['10.244.1.0/24'], ['10.244.0.0/16']);
    const same = new RecordingRunner().on((c) => c.argv[0] === 'list', {
      stdout: `table inet tscni_masq {\n\tcomment "tscni install ${hash}"\n}`,
    });
    expect(await applyMasq(same, ['10.244.1.0/24'], ['10.244.0.0/16'])).toBe('unchanged');
    expect(same.lines()).toEqual(['nft list table inet tscni_masq']);
    const missing = new RecordingRunner().on((c) => c.argv[0] === 'list', { exitCode: 1 });
    expect(await applyMasq(missing, ['10.244.1.0/24'], ['10.244.0.0/16'])).toBe('created');
    expect(missing.lines()).toEqual(['nft list table inet tscni_masq', 'nft -f -']);
    expect(await removeMasq(missing)).toBe(false);
    const other = new RecordingRunner().on((c) => c.argv[0] === 'list', { stdout: 'table inet tscni_masq {}' });
    expect(await applyMasq(other, ['10.244.1.0/24'], ['10.244.0.0/16'])).toBe('updated');
    expect(await removeMasq(other)).toBe(true);
    expect(other.lines().at(-1)).toBe('nft delete table inet tscni_masq');
  });
});

describe('routes to other nodes', () => {
  const nodes = [
    { name: 'a', podCidrs: ['10.244.0.0/24', 'fd00:10:244::/64'], internalIps: ['172.18.0.2', 'fc00::2'] },
    { name: 'b', podCidrs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], internalIps: ['172.18.0.3'] },
    { name: 'c', podCidrs: [], internalIps: ['172.18.0.4'] },
  ];

  it('plans each other node pod CIDR via its InternalIP of the same family', () => {
    expect(planRoutes('a', nodes)).toEqual([{ dst: '10.244.1.0/24', gateway: '172.18.0.3', node: 'b' }]);
    expect(planRoutes('b', nodes)).toEqual([
      { dst: '10.244.0.0/24', gateway: '172.18.0.2', node: 'a' },
      { dst: 'fd00:10:244::/64', gateway: 'fc00::2', node: 'a' },
    ]);
  });

  it('adds missing, removes ours that are no longer wanted, leaves other routes and reports failures', () => {
    const routes = [
      { dst: '10.244.1.0/24', gateway: '172.18.0.3', protocol: ROUTE_PROTOCOL },
      { dst: '10.244.9.0/24', gateway: '172.18.0.9', protocol: ROUTE_PROTOCOL },
      { dst: '10.244.8.0/24', gateway: '172.18.0.8', protocol: 4 },
    ];
    const ops: string[] = [];
    const table: RouteTable = {
      routes: ({ family }) => routes.filter((r) => r.dst.includes(':') === (family === 6)),
      replaceRoute: (s) => {
        if (s.gateway === '10.0.0.1') throw new Error('ENETUNREACH');
        ops.push(`replace ${s.dst} via ${s.gateway} proto ${s.protocol}`);
      },
      deleteRoute: (s) => void ops.push(`delete ${s.dst} proto ${s.protocol}`),
    };
    const ch = syncRoutes(table, [
      { dst: '10.244.1.0/24', gateway: '172.18.0.3', node: 'b' },
      { dst: '10.244.2.0/24', gateway: '172.18.0.4', node: 'c' },
      { dst: '10.244.3.0/24', gateway: '10.0.0.1', node: 'd' },
    ]);
    expect(ops).toEqual([
      `delete 10.244.9.0/24 proto ${ROUTE_PROTOCOL}`,
      `replace 10.244.2.0/24 via 172.18.0.4 proto ${ROUTE_PROTOCOL}`,
    ]);
    expect(ch.removed).toEqual(['10.244.9.0/24']);
    expect(ch.failed).toEqual(['10.244.3.0/24 via 10.0.0.1 (node d): ENETUNREACH']);
  });
});

describe('installOnce (fake API, recording nft, in-memory node namespace)', () => {
  const PLUGINS = ['bridge', 'host-local', 'portmap'];
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tscni-inst-'));
    writeFileSync(join(dir, 'token'), 't0k3n');
    writeFileSync(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
    writeFileSync(join(dir, 'exe'), 'pretend executable');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const nodeJson = (name: string, cidrs: string[], ip: string): Record<string, unknown> => ({
    metadata: { name },
    spec: { podCIDRs: cidrs },
    status: { addresses: [{ type: 'InternalIP', address: ip }] },
  });
  const all = (): Array<Record<string, unknown>> => [
    nodeJson('n1', ['10.244.0.0/24'], '172.18.0.2'),
    nodeJson('n2', ['10.244.1.0/24'], '172.18.0.3'),
    nodeJson('n3', ['10.244.2.0/24'], '172.18.0.4'),
  ];
  /** A fake API over `nodes`; PATCHes of nodes/status are recorded and merged into the node. */
  const api = (nodes = all()): { transport: (req: HttpRequest) => Promise<HttpResponse>; patches: string[] } => {
    const patches: string[] = [];
    const transport = async (req: HttpRequest): Promise<HttpResponse> => {
      const one = /^\/api\/v1\/nodes\/([^/?]+)(\/status)?$/.exec(req.path);
      const n = nodes.find((x) => (x['metadata'] as { name: string }).name === one?.[1]);
      if (req.method === 'PATCH' && n) {
        patches.push(`${req.path} ${req.headers['Content-Type']} ${req.body}`);
        const meta = n['metadata'] as { annotations?: Record<string, string> };
        const add = (JSON.parse(req.body ?? '{}') as { metadata: { annotations: Record<string, string | null> } })
          .metadata.annotations;
        meta.annotations = { ...meta.annotations };
        for (const [k, v] of Object.entries(add))
          if (v === null) delete meta.annotations[k];
          else meta.annotations[k] = v;
        return { status: 200, body: JSON.stringify(n) };
      }
      if (n) return { status: 200, body: JSON.stringify(n) };
      if (req.path.startsWith('/api/v1/nodes?')) return { status: 200, body: JSON.stringify({ items: nodes }) };
      return { status: 404, body: '{}' };
    };
    return { transport, patches };
  };
  const depsWith = (o: Partial<InstallDeps> = {}): InstallDeps => ({
    env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', NODE_NAME: 'n2' },
    serviceAccountDir: dir,
    transport: api().transport,
    runner: () => new RecordingRunner().on((c) => c.argv[0] === 'list', { exitCode: 1 }),
    nodeNet: async () => Promise.reject(new Error('unused')),
    readSysctl: () => '1',
    say: () => undefined,
    warn: () => undefined,
    plugins: PLUGINS,
    ...o,
  });
  const args = (...more: string[]): string[] => [
    '--bin-dir',
    join(dir, 'bin'),
    '--conf-dir',
    join(dir, 'net.d'),
    '--source',
    join(dir, 'exe'),
    ...more,
  ];
  /** n2's namespace: eth0 holding its InternalIP. */
  const n2Net = (): FakeNodeNet => {
    const k = new FakeNodeNet();
    k.addLink('eth0', 1500, ['172.18.0.3/24']);
    return k;
  };
  const conflist = (): { plugins: Array<Record<string, unknown>> } =>
    JSON.parse(readFileSync(join(dir, 'net.d', '10-tscni.conflist'), 'utf8')) as {
      plugins: Array<Record<string, unknown>>;
    };

  it('reads the node, installs files, masquerade and routes; a second round changes nothing', async () => {
    const runner = new RecordingRunner().on((c) => c.argv[0] === 'list', { exitCode: 1 });
    const k = n2Net();
    const deps = depsWith({ runner: () => runner, nodeNet: async () => k });
    const o = parseInstallArgs(args('--routes'), deps.env);
    const r = await installOnce(o, deps);
    expect(r.podCidrs).toEqual(['10.244.1.0/24']);
    expect(r.clusterCidrs).toEqual(['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24']);
    // The executable, a link per plugin, the conflist.
    expect(r.files.map((f) => f.outcome)).toEqual(new Array(PLUGINS.length + 2).fill('created'));
    expect(readdirSync(join(dir, 'bin')).sort()).toEqual([...PLUGINS, 'tscni'].sort());
    expect(readFileSync(join(dir, 'net.d', '10-tscni.conflist'), 'utf8')).toContain('"subnet": "10.244.1.0/24"');
    expect(r.masq).toBe('nft table inet tscni_masq: created');
    expect(String(runner.calls[1]?.input)).toContain('elements = { 10.244.0.0/24, 10.244.1.0/24, 10.244.2.0/24 }');
    expect(k.take()).toEqual([
      'replace route 10.244.0.0/24 via 172.18.0.2 proto 116',
      'replace route 10.244.2.0/24 via 172.18.0.4 proto 116',
    ]);
    expect(conflist().plugins[0]?.['mtu']).toBeUndefined();
    expect(k.closed).toBe(true);

    const again = await installOnce(o, deps);
    expect(again.files.every((f) => f.outcome === 'unchanged')).toBe(true);
    expect(k.take()).toEqual([]);
  });

  it('vxlan: device first, then the annotations on its node object (nodes/status merge patch), MTU lowered', async () => {
    const nodes = all();
    const { transport, patches } = api(nodes);
    const k = n2Net();
    const deps = depsWith({ transport, nodeNet: async () => k });
    const o = parseInstallArgs(args('--backend', 'vxlan'), deps.env);
    const r = await installOnce(o, deps);
    const mac = vtepMac('n2');
    expect(r.peers[0]).toBe(`vxlan tscni.vxlan (VNI 1, port 4789, local 172.18.0.3, mtu 1450, mac ${mac}): created`);
    expect(patches).toEqual([
      `/api/v1/nodes/n2/status application/merge-patch+json {"metadata":{"annotations":{"${MAC_ANNOTATION}":"${mac}","${VTEP_ANNOTATION}":"172.18.0.3"}}}`,
    ]);
    // The others have not published yet: no routes, and the round says why.
    expect(r.notes).toEqual(expect.arrayContaining([expect.stringContaining('node n1: no VXLAN MAC published')]));
    expect(conflist().plugins[0]?.['mtu']).toBe(1450);
    // Published once; the next round sees it on the node and sends nothing.
    await installOnce(o, deps);
    expect(patches).toHaveLength(1);
    // --mtu is the pods' MTU as given.
    await installOnce(parseInstallArgs(args('--backend', 'vxlan', '--mtu', '1400'), deps.env), deps);
    expect(conflist().plugins[0]?.['mtu']).toBe(1400);
  });

  it('a failing masquerade does not skip the routes; the conflist waits until both work', async () => {
    const k = n2Net();
    const failing = new RecordingRunner()
      .on((c) => c.argv[0] === 'list', { exitCode: 1 })
      .on((c) => c.argv[0] === '-f', { exitCode: 1, stderr: 'Operation not permitted' });
    const deps = depsWith({ runner: () => failing, nodeNet: async () => k });
    const o = parseInstallArgs(args('--routes'), deps.env);
    const err = await installOnce(o, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RoundFailed);
    const report = (err as RoundFailed).report;
    expect(report.errors).toEqual([expect.stringMatching(/^masquerade: .*Operation not permitted/)]);
    expect(k.take()).toHaveLength(2); // the routes are there
    expect(() => readdirSync(join(dir, 'net.d'))).toThrow(); // no conflist: the node stays NotReady
    expect(report.files.map((f) => f.path)).not.toContain(join(dir, 'net.d', '10-tscni.conflist'));

    // Routes failing (no netlink) do not skip the masquerade either.
    const runner = new RecordingRunner().on((c) => c.argv[0] === 'list', { exitCode: 1 });
    const noNet = depsWith({ runner: () => runner, nodeNet: async () => Promise.reject(new Error('EPERM')) });
    const err2 = (await installOnce(o, noNet).catch((e: unknown) => e)) as RoundFailed;
    expect(err2.report.errors).toEqual(['routes: EPERM']);
    expect(err2.report.masq).toBe('nft table inet tscni_masq: created');
  });

  it('warns while bridge netfilter is off (per family), not with --plugin ptp', async () => {
    const sysctl: Record<string, string> = { 'net/bridge/bridge-nf-call-iptables': '0' };
    const deps = depsWith({ readSysctl: (n) => sysctl[n] });
    const r = await installOnce(parseInstallArgs(args('--no-binaries'), deps.env), deps);
    expect(r.notes).toEqual([
      expect.stringMatching(/^warning: net\.bridge\.bridge-nf-call-iptables is 0: .*modprobe br_netfilter/),
    ]);
    const ptp = await installOnce(parseInstallArgs(args('--no-binaries', '--plugin', 'ptp'), deps.env), deps);
    expect(ptp.notes).toEqual([]);
    expect(conflist().plugins[0]).toMatchObject({ type: 'ptp', ipam: { routes: [{ dst: '0.0.0.0/0' }] } });
    // A lone node (no API, no Services) is not told.
    const lone = await installOnce(parseInstallArgs(args('--no-binaries', '--pod-cidr', '10.88.0.0/16'), {}), deps);
    expect(lone.notes).toEqual([]);
  });

  it('reaches the API at --api-server instead of the service address', async () => {
    const seen: string[] = [];
    const { transport } = api();
    const deps = depsWith({
      env: { NODE_NAME: 'n2' },
      transport: async (req) => {
        seen.push(`${req.hostname}:${req.port}`);
        return transport(req);
      },
    });
    await installOnce(
      parseInstallArgs(args('--no-binaries', '--api-server', 'https://kind-control-plane:6443'), deps.env),
      deps,
    );
    expect(new Set(seen)).toEqual(new Set(['kind-control-plane:6443']));
  });

  it('fails with the reason when the node has no pod CIDR yet', async () => {
    const deps = depsWith({
      transport: api([{ metadata: { name: 'n2' }, spec: {} }]).transport,
    });
    const o = parseInstallArgs(['--conf-dir', join(dir, 'net.d'), '--no-binaries'], deps.env);
    await expect(installOnce(o, deps)).rejects.toThrow('node n2 has no spec.podCIDRs yet');
    expect(() => readdirSync(join(dir, 'net.d'))).toThrow();
  });
});

describe('removeMasq without nft', () => {
  it('there is no table of ours when nft cannot even be started; other failures count', async () => {
    const missing = {
      run: async (): Promise<never> =>
        Promise.reject(new ExecError('nft list table inet tscni_masq', null, '', '', 'nft not found')),
    };
    expect(await removeMasq(missing)).toBe(false);
    const failing = {
      run: async (): Promise<never> => Promise.reject(new ExecError('nft', 1, '', 'Operation not permitted')),
    };
    await expect(removeMasq(failing)).rejects.toThrow(/Operation not permitted/);
  });
});
