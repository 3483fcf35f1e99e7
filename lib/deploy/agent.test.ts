/** The node agent parts: masquerade table, routes to other nodes, and one install round with fakes. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingRunner } from '../exec/recording';
import { ExecError } from '../exec/runner';
import { installOnce, type InstallDeps } from './install';
import type { HttpRequest, HttpResponse } from './kube';
import { applyMasq, outermost, removeMasq, renderMasq } from './masq';
import { parseInstallArgs } from './options';
import { planRoutes, ROUTE_PROTOCOL, syncRoutes, type RouteTable } from './routes';

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

describe('installOnce (fake API, recording nft, fake route table)', () => {
  const PLUGINS = ['bridge', 'host-local', 'portmap'];
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tscni-inst-'));
    writeFileSync(join(dir, 'token'), 't0k3n');
    writeFileSync(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
    writeFileSync(join(dir, 'exe'), 'pretend executable');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const nodeJson = (name: string, cidrs: string[], ip: string): unknown => ({
    metadata: { name },
    spec: { podCIDRs: cidrs },
    status: { addresses: [{ type: 'InternalIP', address: ip }] },
  });
  const all = [
    nodeJson('n1', ['10.244.0.0/24'], '172.18.0.2'),
    nodeJson('n2', ['10.244.1.0/24'], '172.18.0.3'),
    nodeJson('n3', ['10.244.2.0/24'], '172.18.0.4'),
  ];
  const transport = async (req: HttpRequest): Promise<HttpResponse> => {
    if (req.path === '/api/v1/nodes/n2') return { status: 200, body: JSON.stringify(all[1]) };
    if (req.path.startsWith('/api/v1/nodes?')) return { status: 200, body: JSON.stringify({ items: all }) };
    return { status: 404, body: '{}' };
  };

  it('reads the node, installs files, masquerade and routes; a second round changes nothing', async () => {
    const runner = new RecordingRunner().on((c) => c.argv[0] === 'list', { exitCode: 1 });
    const replaced: string[] = [];
    const deps: InstallDeps = {
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', NODE_NAME: 'n2' },
      serviceAccountDir: dir,
      transport,
      runner: () => runner,
      routeTable: async () => ({
        routes: () => [],
        replaceRoute: (s) => void replaced.push(`${s.dst} via ${s.gateway}`),
        deleteRoute: () => undefined,
        close: () => undefined,
      }),
      say: () => undefined,
      plugins: PLUGINS,
    };
    const o = parseInstallArgs(
      ['--bin-dir', join(dir, 'bin'), '--conf-dir', join(dir, 'net.d'), '--source', join(dir, 'exe'), '--routes'],
      deps.env,
    );
    const r = await installOnce(o, deps);
    expect(r.podCidrs).toEqual(['10.244.1.0/24']);
    expect(r.clusterCidrs).toEqual(['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24']);
    // The executable, a link per plugin, the conflist.
    expect(r.files.map((f) => f.outcome)).toEqual(new Array(PLUGINS.length + 2).fill('created'));
    expect(readdirSync(join(dir, 'bin')).sort()).toEqual([...PLUGINS, 'tscni'].sort());
    expect(readFileSync(join(dir, 'net.d', '10-tscni.conflist'), 'utf8')).toContain('"subnet": "10.244.1.0/24"');
    expect(r.masq).toBe('nft table inet tscni_masq: created');
    expect(String(runner.calls[1]?.input)).toContain('elements = { 10.244.0.0/24, 10.244.1.0/24, 10.244.2.0/24 }');
    expect(replaced).toEqual(['10.244.0.0/24 via 172.18.0.2', '10.244.2.0/24 via 172.18.0.4']);

    const again = await installOnce(o, deps);
    expect(again.files.every((f) => f.outcome === 'unchanged')).toBe(true);
  });

  it('fails with the reason when the node has no pod CIDR yet', async () => {
    const deps: InstallDeps = {
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', NODE_NAME: 'n2' },
      serviceAccountDir: dir,
      transport: async () => ({ status: 200, body: JSON.stringify({ metadata: { name: 'n2' }, spec: {} }) }),
      runner: () => new RecordingRunner(),
      routeTable: async () => Promise.reject(new Error('unused')),
      say: () => undefined,
      plugins: PLUGINS,
    };
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
