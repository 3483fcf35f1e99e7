/** In-cluster configuration and node reading against a fake transport. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KubeClient,
  NotInClusterError,
  inClusterConfig,
  parseNode,
  parseNodeEvent,
  type HttpRequest,
  type HttpResponse,
  type NodeEvent,
  type StreamTransport,
} from './kube';
import { UsageError } from '../argv';
import { parseEndpoint } from './options';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
let sa: string;
beforeEach(() => {
  sa = mkdtempSync(join(tmpdir(), 'tscni-sa-'));
  writeFileSync(join(sa, 'token'), 'token-1\n');
  writeFileSync(join(sa, 'ca.crt'), PEM);
});
afterEach(() => rmSync(sa, { recursive: true, force: true }));

const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

describe('inClusterConfig', () => {
  it('reads host, port and CA as client-go does', () => {
    const c = inClusterConfig(env, sa);
    expect(c).toMatchObject({ server: 'https://10.96.0.1:443', hostname: '10.96.0.1', port: 443, ca: PEM });
    expect(c.tokenFile).toBe(join(sa, 'token'));
    expect(inClusterConfig({ ...env, KUBERNETES_SERVICE_HOST: 'fd00:10:96::1' }, sa).server).toBe(
      'https://[fd00:10:96::1]:443',
    );
  });

  it('is not in a cluster without both variables; a bad port, host or CA is an error', () => {
    expect(() => inClusterConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, sa)).toThrow(NotInClusterError);
    expect(() => inClusterConfig({ ...env, KUBERNETES_SERVICE_PORT: 'https' }, sa)).toThrow(/not a port/);
    expect(() => inClusterConfig({ ...env, KUBERNETES_SERVICE_HOST: 'a/b' }, sa)).toThrow(/not an address/);
    writeFileSync(join(sa, 'ca.crt'), 'garbage');
    expect(() => inClusterConfig(env, sa)).toThrow(/ca\.crt: no PEM certificate/);
    rmSync(join(sa, 'ca.crt'));
    expect(() => inClusterConfig(env, sa)).toThrow(/read cluster CA .*ca\.crt/);
  });
});

describe('parseNode', () => {
  it('prefers spec.podCIDRs, falls back to spec.podCIDR, keeps InternalIPs', () => {
    expect(
      parseNode({
        kind: 'Node',
        metadata: { name: 'n1' },
        spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] },
        status: {
          addresses: [
            { type: 'InternalIP', address: '172.18.0.3' },
            { type: 'Hostname', address: 'n1' },
            { type: 'InternalIP', address: 'FC00:F853:CCD:E793:0::3' },
          ],
        },
      }),
    ).toEqual({
      name: 'n1',
      podCidrs: ['10.244.1.0/24', 'fd00:10:244:1::/64'],
      internalIps: ['172.18.0.3', 'fc00:f853:ccd:e793::3'],
    });
    expect(parseNode({ metadata: { name: 'n2' }, spec: { podCIDR: '10.244.2.0/24' } }).podCidrs).toEqual([
      '10.244.2.0/24',
    ]);
    expect(parseNode({ metadata: { name: 'n3' }, spec: {} }).podCidrs).toEqual([]);
  });

  it('rejects malformed objects with the field named', () => {
    expect(() => parseNode({ kind: 'Pod', metadata: { name: 'x' } })).toThrow(/not a Node/);
    expect(() => parseNode({ metadata: {} })).toThrow(/metadata\.name/);
    expect(() => parseNode({ metadata: { name: 'x' }, spec: { podCIDRs: ['bogus'] } })).toThrow(/node x: pod CIDR/);
  });
});

describe('KubeClient', () => {
  const node = (name: string, cidr: string): unknown => ({ metadata: { name }, spec: { podCIDRs: [cidr] } });

  it('sends the current token, verifies with the CA, pages through node lists', async () => {
    const seen: HttpRequest[] = [];
    const transport = async (req: HttpRequest): Promise<HttpResponse> => {
      seen.push(req);
      if (req.path === '/api/v1/nodes/n1') return { status: 200, body: JSON.stringify(node('n1', '10.244.1.0/24')) };
      if (req.path === '/api/v1/nodes?limit=500')
        return {
          status: 200,
          body: JSON.stringify({ metadata: { continue: 'a b' }, items: [node('n1', '10.244.1.0/24')] }),
        };
      if (req.path === '/api/v1/nodes?limit=500&continue=a%20b')
        return { status: 200, body: JSON.stringify({ metadata: {}, items: [node('n2', '10.244.2.0/24')] }) };
      return { status: 404, body: JSON.stringify({ kind: 'Status', message: 'not found' }) };
    };
    const c = new KubeClient(inClusterConfig(env, sa), transport);
    expect((await c.getNode('n1')).podCidrs).toEqual(['10.244.1.0/24']);
    writeFileSync(join(sa, 'token'), 'token-2');
    expect((await c.listNodes()).map((n) => n.name)).toEqual(['n1', 'n2']);
    expect(seen.map((r) => r.headers['Authorization'])).toEqual(['Bearer token-1', 'Bearer token-2', 'Bearer token-2']);
    expect(seen.every((r) => r.ca === PEM && r.hostname === '10.96.0.1' && r.port === 443)).toBe(true);
    await expect(c.getNode('n9')).rejects.toThrow(
      /read node n9: GET https:\/\/10\.96\.0\.1:443\/api\/v1\/nodes\/n9: HTTP 404: not found/,
    );
  });

  it('names the step when the transport or the answer fails', async () => {
    const c = (t: () => Promise<HttpResponse>): KubeClient => new KubeClient(inClusterConfig(env, sa), t);
    await expect(c(async () => Promise.reject(new Error('self-signed certificate'))).getNode('n1')).rejects.toThrow(
      /read node n1: GET .*: self-signed certificate/,
    );
    await expect(c(async () => ({ status: 200, body: '<html>' })).getNode('n1')).rejects.toThrow(/other than JSON/);
    await expect(c(async () => ({ status: 200, body: '{}' })).listNodes()).rejects.toThrow(/no items/);
    await expect(c(async () => ({ status: 200, body: '{}' })).getNode('../x')).rejects.toThrow(
      /not a valid Kubernetes name/,
    );
    rmSync(join(sa, 'token'));
    await expect(c(async () => ({ status: 200, body: '{}' })).getNode('n1')).rejects.toThrow(/service-account token/);
  });
});

describe('API endpoint override', () => {
  it('parses https://host[:port] and host:port; refuses paths, users and bare hosts', () => {
    expect(parseEndpoint('https://tscni-control-plane:6443')).toEqual({ hostname: 'tscni-control-plane', port: 6443 });
    expect(parseEndpoint('https://10.0.0.1')).toEqual({ hostname: '10.0.0.1', port: 443 });
    expect(parseEndpoint('[fd00::1]:6443')).toEqual({ hostname: 'fd00::1', port: 6443 });
    for (const bad of ['http://x:1', 'https://x:1/api', 'https://u@x:1', 'x', 'https://x:0', 'https://[zz]:1'])
      expect(() => parseEndpoint(bad)).toThrow(UsageError);
  });

  it('takes the endpoint instead of KUBERNETES_SERVICE_*, the token and CA from the service account', () => {
    const c = inClusterConfig({}, sa, { hostname: 'fd00::1', port: 6443 });
    expect(c).toMatchObject({ server: 'https://[fd00::1]:6443', hostname: 'fd00::1', port: 6443, ca: PEM });
  });
});

describe('KubeClient: list versions, annotations, watch', () => {
  const cfg = (): ReturnType<typeof inClusterConfig> => inClusterConfig(env, sa);

  it('returns the list resourceVersion and keeps only our annotations', async () => {
    const c = new KubeClient(cfg(), async () => ({
      status: 200,
      body: JSON.stringify({
        metadata: { resourceVersion: '42' },
        items: [
          {
            metadata: {
              name: 'n1',
              annotations: {
                'tscni.io/vxlan-mac': '02:00:00:00:00:01',
                'node.alpha.kubernetes.io/ttl': '0',
                'tscni.io/x': 5,
              },
            },
          },
        ],
      }),
    }));
    const list = await c.list();
    expect(list.resourceVersion).toBe('42');
    expect(list.items[0]?.annotations).toEqual({ 'tscni.io/vxlan-mac': '02:00:00:00:00:01' });
  });

  it('annotates through a merge patch of nodes/status, only with our prefix', async () => {
    const seen: HttpRequest[] = [];
    const c = new KubeClient(cfg(), async (req) => {
      seen.push(req);
      return { status: 200, body: JSON.stringify({ metadata: { name: 'n1', annotations: { 'tscni.io/a': 'b' } } }) };
    });
    expect((await c.annotateNode('n1', { 'tscni.io/a': 'b', 'tscni.io/old': null })).annotations).toEqual({
      'tscni.io/a': 'b',
    });
    expect(seen[0]).toMatchObject({
      method: 'PATCH',
      path: '/api/v1/nodes/n1/status',
      body: '{"metadata":{"annotations":{"tscni.io/a":"b","tscni.io/old":null}}}',
      headers: expect.objectContaining({ 'Content-Type': 'application/merge-patch+json' }),
    });
    await expect(c.annotateNode('n1', { 'kubernetes.io/x': 'y' })).rejects.toThrow(/not ours/);
    const denied = new KubeClient(cfg(), async () => ({ status: 403, body: '{"message":"forbidden: nodes/status"}' }));
    await expect(denied.annotateNode('n1', { 'tscni.io/a': 'b' })).rejects.toThrow(
      /annotate node n1: PATCH https:\/\/10\.96\.0\.1:443\/api\/v1\/nodes\/n1\/status: HTTP 403: forbidden/,
    );
  });

  it('watches from a resourceVersion with bookmarks, one event per line', async () => {
    let path = '';
    const stream: StreamTransport = async (req, onLine) => {
      path = req.path;
      onLine(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'n4', resourceVersion: '43' } } }));
      onLine(JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '44' } } }));
      onLine(JSON.stringify({ type: 'DELETED', object: { metadata: { name: 'n4', resourceVersion: '45' } } }));
      return { status: 200, body: '' };
    };
    const c = new KubeClient(cfg(), undefined, undefined, stream);
    const events: NodeEvent[] = [];
    await c.watchNodes('42', (e) => events.push(e), new AbortController().signal, 120);
    expect(path).toBe('/api/v1/nodes?watch=1&allowWatchBookmarks=true&timeoutSeconds=120&resourceVersion=42');
    expect(events.map((e) => `${e.type} ${'resourceVersion' in e ? e.resourceVersion : ''}`)).toEqual([
      'ADDED 43',
      'BOOKMARK 44',
      'DELETED 45',
    ]);
    const refused = new KubeClient(cfg(), undefined, undefined, async () => ({
      status: 410,
      body: '{"message":"gone"}',
    }));
    await expect(refused.watchNodes('1', () => undefined, new AbortController().signal)).rejects.toThrow(
      /watch nodes: GET .*: HTTP 410: gone/,
    );
  });

  it('parses watch events strictly: ERROR keeps its code, anything odd is an error', () => {
    expect(parseNodeEvent('{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old"}}')).toEqual({
      type: 'ERROR',
      code: 410,
      message: 'too old',
    });
    expect(() => parseNodeEvent('{"type":"SURPRISE","object":{}}')).toThrow(/unknown event type/);
    expect(() => parseNodeEvent('not json')).toThrow(/other than JSON/);
    expect(() => parseNodeEvent('{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"x"}}}')).toThrow(
      /not a Node/,
    );
  });
});
