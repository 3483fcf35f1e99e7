/**
 * The little of the Kubernetes API the installer needs: node objects, read with the pod's
 * service-account credentials the way client-go's InClusterConfig finds them
 * (KUBERNETES_SERVICE_HOST/PORT, the token and CA under /var/run/secrets/kubernetes.io/
 * serviceaccount). TLS is verified against that CA only; the token is re-read for every request
 * because bound tokens are rotated by the kubelet.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseIP } from '../addr/ip';
import { canonicalCidr, checkNodeName } from './options';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class NotInClusterError extends Error {
  override name = 'NotInClusterError';
}

export interface InClusterConfig {
  /** `https://host:port` (IPv6 hosts in brackets). */
  readonly server: string;
  readonly hostname: string;
  readonly port: number;
  readonly tokenFile: string;
  /** PEM text of the cluster CA. */
  readonly ca: string;
}

/** client-go's InClusterConfig: both env vars or not in a cluster; the CA must load. */
export function inClusterConfig(env: NodeJS.ProcessEnv = process.env, saDir = SERVICE_ACCOUNT_DIR): InClusterConfig {
  const host = env['KUBERNETES_SERVICE_HOST'] ?? '';
  const portText = env['KUBERNETES_SERVICE_PORT'] ?? '';
  if (!host || !portText)
    throw new NotInClusterError(
      'not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (or give --pod-cidr)',
    );
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535)
    throw new NotInClusterError(`KUBERNETES_SERVICE_PORT ${JSON.stringify(portText)} is not a port`);
  const ip = parseIP(host);
  if (!ip && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(host))
    throw new NotInClusterError(`KUBERNETES_SERVICE_HOST ${JSON.stringify(host)} is not an address or host name`);
  const caFile = join(saDir, 'ca.crt');
  let ca: string;
  try {
    ca = readFileSync(caFile, 'utf8');
  } catch (e) {
    throw new Error(`read cluster CA ${caFile}: ${(e as Error).message}`);
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`read cluster CA ${caFile}: no PEM certificate`);
  const bracketed = ip?.family === 6 ? `[${host}]` : host;
  return { server: `https://${bracketed}:${port}`, hostname: host, port, tokenFile: join(saDir, 'token'), ca };
}

export interface HttpResponse {
  readonly status: number;
  readonly body: string;
}

export interface HttpRequest {
  readonly hostname: string;
  readonly port: number;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly ca: string;
  readonly timeoutMs: number;
}

export type Transport = (req: HttpRequest) => Promise<HttpResponse>;

/** A node list is ~5 KB per node; 64 MB is far beyond any real cluster. */
const MAX_BODY = 64 << 20;

/** GET over HTTPS, verified against `ca` only (never the system roots). */
export const httpsGet: Transport = async (req) => {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const r = request(
      {
        method: 'GET',
        hostname: req.hostname,
        port: req.port,
        path: req.path,
        headers: req.headers,
        ca: req.ca,
        rejectUnauthorized: true,
        agent: false,
        timeout: req.timeoutMs,
      },
      (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        res.on('data', (b: Buffer) => {
          size += b.length;
          if (size > MAX_BODY) r.destroy(new Error(`response larger than ${MAX_BODY} bytes`));
          else parts.push(b);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`no answer within ${req.timeoutMs} ms`)));
    r.on('error', reject);
    r.end();
  });
};

export interface NodeInfo {
  readonly name: string;
  /** Canonical CIDRs from spec.podCIDRs, or spec.podCIDR when the list is absent. */
  readonly podCidrs: string[];
  /** status.addresses of type InternalIP. */
  readonly internalIps: string[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads the fields we use from a v1 Node; anything malformed is an error naming the field. */
export function parseNode(obj: unknown): NodeInfo {
  if (!isRecord(obj) || (obj['kind'] !== undefined && obj['kind'] !== 'Node')) throw new Error('not a Node object');
  const meta = isRecord(obj['metadata']) ? obj['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  if (!name) throw new Error('node without metadata.name');
  const spec = isRecord(obj['spec']) ? obj['spec'] : {};
  let raw: unknown[] = [];
  if (Array.isArray(spec['podCIDRs']) && spec['podCIDRs'].length > 0) raw = spec['podCIDRs'];
  else if (typeof spec['podCIDR'] === 'string' && spec['podCIDR']) raw = [spec['podCIDR']];
  const podCidrs = raw.map((c) => {
    if (typeof c !== 'string') throw new Error(`node ${name}: spec.podCIDRs holds a non-string`);
    return canonicalCidr(c, `node ${name}: pod CIDR`);
  });
  const status = isRecord(obj['status']) ? obj['status'] : {};
  const addresses = Array.isArray(status['addresses']) ? status['addresses'] : [];
  const internalIps: string[] = [];
  for (const a of addresses) {
    if (!isRecord(a) || a['type'] !== 'InternalIP' || typeof a['address'] !== 'string') continue;
    if (parseIP(a['address'])) internalIps.push(a['address']);
  }
  return { name, podCidrs, internalIps };
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what}: the API answered with something other than JSON`);
  }
}

export class KubeClient {
  constructor(
    private readonly cfg: InClusterConfig,
    private readonly transport: Transport = httpsGet,
    private readonly timeoutMs = 10_000,
  ) {}

  private async get(path: string, what: string): Promise<unknown> {
    let token: string;
    try {
      token = readFileSync(this.cfg.tokenFile, 'utf8').trim();
    } catch (e) {
      throw new Error(`${what}: read service-account token ${this.cfg.tokenFile}: ${(e as Error).message}`);
    }
    let res: HttpResponse;
    try {
      res = await this.transport({
        hostname: this.cfg.hostname,
        port: this.cfg.port,
        path,
        headers: { Accept: 'application/json', Authorization: `Bearer ${token}`, 'User-Agent': 'tscni-install' },
        ca: this.cfg.ca,
        timeoutMs: this.timeoutMs,
      });
    } catch (e) {
      throw new Error(`${what}: GET ${this.cfg.server}${path}: ${(e as Error).message}`);
    }
    if (res.status !== 200) {
      const body = parseJsonOrUndefined(res.body);
      const msg = isRecord(body) && typeof body['message'] === 'string' ? body['message'] : res.body.slice(0, 200);
      throw new Error(`${what}: GET ${this.cfg.server}${path}: HTTP ${res.status}${msg ? `: ${msg}` : ''}`);
    }
    return parseJson(res.body, what);
  }

  async getNode(name: string): Promise<NodeInfo> {
    const what = `read node ${name}`;
    return parseNode(await this.get(`/api/v1/nodes/${checkNodeName(name)}`, what));
  }

  /** Every node, following `continue` tokens. */
  async listNodes(): Promise<NodeInfo[]> {
    const out: NodeInfo[] = [];
    let cont = '';
    for (let page = 0; page < 1000; page++) {
      const q = `limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
      const list = await this.get(`/api/v1/nodes?${q}`, 'list nodes');
      if (!isRecord(list) || !Array.isArray(list['items'])) throw new Error('list nodes: no items in the answer');
      for (const item of list['items']) out.push(parseNode(item));
      const meta = isRecord(list['metadata']) ? list['metadata'] : {};
      cont = typeof meta['continue'] === 'string' ? meta['continue'] : '';
      if (!cont) return out;
    }
    throw new Error('list nodes: more than 1000 pages');
  }
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
