/** In-cluster configuration and node reading against a fake transport. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, NotInClusterError, inClusterConfig, parseNode, type HttpRequest, type HttpResponse } from './kube';

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
            { type: 'InternalIP', address: 'fc00:f853:ccd:e793::3' },
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
