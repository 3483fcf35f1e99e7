/**
 * The little of the Kubernetes API the installer needs: node objects (get, list, watch) and our
 * annotations on this node (a merge patch of nodes/status), with the pod's service-account
 * credentials the way client-go's InClusterConfig finds them (KUBERNETES_SERVICE_HOST/PORT, the
 * token and CA under /var/run/secrets/kubernetes.io/serviceaccount), or at an endpoint given
 * instead (kind gives kindnetd the control plane's, so it needs no kube-proxy). TLS is verified
 * against that CA only; the token is re-read for every request because bound tokens are rotated
 * by the kubelet.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIP, parseIP } from '../addr/ip';
import { canonicalCidr, checkNodeName, type Endpoint } from './options';

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

/**
 * client-go's InClusterConfig: both env vars or not in a cluster; the CA must load. With
 * `endpoint` the API is reached there instead of through the service (the token and CA still
 * come from the service account).
 */
export function inClusterConfig(
  env: NodeJS.ProcessEnv = process.env,
  saDir = SERVICE_ACCOUNT_DIR,
  endpoint?: Endpoint,
): InClusterConfig {
  const host = endpoint?.hostname ?? env['KUBERNETES_SERVICE_HOST'] ?? '';
  const portText = endpoint ? String(endpoint.port) : (env['KUBERNETES_SERVICE_PORT'] ?? '');
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
  /** GET unless told otherwise. */
  readonly method?: 'GET' | 'PATCH';
  readonly hostname: string;
  readonly port: number;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly ca: string;
  /** The whole exchange for a plain request; the longest silence for a stream. */
  readonly timeoutMs: number;
  readonly body?: string;
}

export type Transport = (req: HttpRequest) => Promise<HttpResponse>;

/**
 * A streamed GET (a watch): `onLine` gets each newline-terminated line of a 200 answer as it
 * arrives; the promise settles when the server ends the answer (body '' for a 200, else the
 * error body) or `signal` aborts it (rejects).
 */
export type StreamTransport = (
  req: HttpRequest,
  onLine: (line: string) => void,
  signal: AbortSignal,
) => Promise<HttpResponse>;

/** A node list is ~5 KB per node; 64 MB is far beyond any real cluster. */
const MAX_BODY = 64 << 20;

/** A request over HTTPS, verified against `ca` only (never the system roots). */
export const httpsRequest: Transport = async (req) => {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const r = request(
      {
        method: req.method ?? 'GET',
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
    r.end(req.body);
  });
};

/** The longest line of a watch we take (one node object is ~5 KB). */
const MAX_LINE = 4 << 20;

/** A streamed GET over HTTPS (see StreamTransport); a line longer than MAX_LINE ends it. */
export const httpsStream: StreamTransport = async (req, onLine, signal) => {
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
        const status = res.statusCode ?? 0;
        let pending = '';
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          pending += text;
          if (status !== 200) {
            if (pending.length > MAX_LINE) r.destroy(new Error('error answer too large'));
            return;
          }
          for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            try {
              if (line.trim()) onLine(line);
            } catch (e) {
              r.destroy(e as Error);
              return;
            }
          }
          if (pending.length > MAX_LINE) r.destroy(new Error(`a line longer than ${MAX_LINE} bytes`));
        });
        res.on('end', () => resolve({ status, body: status === 200 ? '' : pending }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`silent for ${req.timeoutMs} ms`)));
    r.on('error', reject);
    const abort = (): void => void r.destroy(new Error('aborted'));
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    r.on('close', () => signal.removeEventListener('abort', abort));
    r.end();
  });
};

/** Annotations we read and write on node objects carry this prefix. */
export const ANNOTATION_PREFIX = 'tscni.io/';

export interface NodeInfo {
  readonly name: string;
  /** Canonical CIDRs from spec.podCIDRs, or spec.podCIDR when the list is absent. */
  readonly podCidrs: string[];
  /** status.addresses of type InternalIP. */
  readonly internalIps: string[];
  /** Our annotations (keys starting with ANNOTATION_PREFIX, string values); absent when none. */
  readonly annotations?: Readonly<Record<string, string>>;
}

/** One watch event, parsed; BOOKMARK and ERROR carry no node. */
export type NodeEvent =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly node: NodeInfo; readonly resourceVersion: string }
  | { readonly type: 'BOOKMARK'; readonly resourceVersion: string }
  | { readonly type: 'ERROR'; readonly code: number; readonly message: string };

export interface NodeList {
  readonly items: NodeInfo[];
  /** Where a watch continues from. */
  readonly resourceVersion: string;
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
    // In canonical text, as netlink reports addresses back (`FC00::0B` → `fc00::b`).
    const ip = parseIP(a['address']);
    if (ip) internalIps.push(formatIP(ip));
  }
  const annotations: Record<string, string> = {};
  if (isRecord(meta['annotations']))
    for (const [k, v] of Object.entries(meta['annotations']))
      if (k.startsWith(ANNOTATION_PREFIX) && typeof v === 'string') annotations[k] = v;
  return Object.keys(annotations).length > 0
    ? { name, podCidrs, internalIps, annotations }
    : { name, podCidrs, internalIps };
}

const resourceVersionOf = (obj: unknown): string => {
  const meta = isRecord(obj) && isRecord(obj['metadata']) ? obj['metadata'] : {};
  return typeof meta['resourceVersion'] === 'string' ? meta['resourceVersion'] : '';
};

/** One line of a watch answer; anything malformed is an error naming it. */
export function parseNodeEvent(line: string): NodeEvent {
  const ev = parseJson(line, 'watch nodes');
  if (!isRecord(ev) || typeof ev['type'] !== 'string') throw new Error('watch nodes: an event without a type');
  const type = ev['type'];
  const obj = ev['object'];
  if (type === 'ERROR') {
    const st = isRecord(obj) ? obj : {};
    return {
      type,
      code: typeof st['code'] === 'number' ? st['code'] : 0,
      message: typeof st['message'] === 'string' ? st['message'] : '',
    };
  }
  if (type === 'BOOKMARK') return { type, resourceVersion: resourceVersionOf(obj) };
  if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED')
    throw new Error(`watch nodes: unknown event type ${JSON.stringify(type).slice(0, 40)}`);
  return { type, node: parseNode(obj), resourceVersion: resourceVersionOf(obj) };
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
    private readonly transport: Transport = httpsRequest,
    private readonly timeoutMs = 10_000,
    private readonly stream: StreamTransport = httpsStream,
  ) {}

  private request(path: string, what: string, extra: Partial<HttpRequest> = {}): HttpRequest {
    let token: string;
    try {
      token = readFileSync(this.cfg.tokenFile, 'utf8').trim();
    } catch (e) {
      throw new Error(`${what}: read service-account token ${this.cfg.tokenFile}: ${(e as Error).message}`);
    }
    return {
      hostname: this.cfg.hostname,
      port: this.cfg.port,
      path,
      headers: {
        Accept: 'application/json',
        Authorization: `Bearer ${token}`,
        'User-Agent': 'tscni-install',
        ...(extra.headers ?? {}),
      },
      ca: this.cfg.ca,
      timeoutMs: this.timeoutMs,
      ...(extra.method ? { method: extra.method } : {}),
      ...(extra.body !== undefined ? { body: extra.body } : {}),
    };
  }

  private failure(what: string, req: HttpRequest, res: HttpResponse): Error {
    const body = parseJsonOrUndefined(res.body);
    const msg = isRecord(body) && typeof body['message'] === 'string' ? body['message'] : res.body.slice(0, 200);
    return new Error(
      `${what}: ${req.method ?? 'GET'} ${this.cfg.server}${req.path}: HTTP ${res.status}${msg ? `: ${msg}` : ''}`,
    );
  }

  private async call(path: string, what: string, extra: Partial<HttpRequest> = {}): Promise<unknown> {
    const req = this.request(path, what, extra);
    let res: HttpResponse;
    try {
      res = await this.transport(req);
    } catch (e) {
      throw new Error(`${what}: ${req.method ?? 'GET'} ${this.cfg.server}${path}: ${(e as Error).message}`);
    }
    if (res.status !== 200) throw this.failure(what, req, res);
    return parseJson(res.body, what);
  }

  async getNode(name: string): Promise<NodeInfo> {
    const what = `read node ${name}`;
    return parseNode(await this.call(`/api/v1/nodes/${checkNodeName(name)}`, what));
  }

  /** Every node, following `continue` tokens. */
  async listNodes(): Promise<NodeInfo[]> {
    return (await this.list()).items;
  }

  /** Every node and the list's resourceVersion (where a watch starts). */
  async list(): Promise<NodeList> {
    const out: NodeInfo[] = [];
    let cont = '';
    for (let page = 0; page < 1000; page++) {
      const q = `limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
      const list = await this.call(`/api/v1/nodes?${q}`, 'list nodes');
      if (!isRecord(list) || !Array.isArray(list['items'])) throw new Error('list nodes: no items in the answer');
      for (const item of list['items']) out.push(parseNode(item));
      const meta = isRecord(list['metadata']) ? list['metadata'] : {};
      cont = typeof meta['continue'] === 'string' ? meta['continue'] : '';
      if (!cont) return { items: out, resourceVersion: resourceVersionOf(list) };
    }
    throw new Error('list nodes: more than 1000 pages');
  }

  /**
   * Sets (a string) or removes (null) annotations of node `name` with a JSON merge patch of
   * nodes/status: the service account needs `patch` on nodes/status only, which cannot touch
   * the node's spec (taints, pod CIDRs). Returns the node as patched.
   */
  async annotateNode(name: string, annotations: Readonly<Record<string, string | null>>): Promise<NodeInfo> {
    for (const k of Object.keys(annotations))
      if (!k.startsWith(ANNOTATION_PREFIX)) throw new Error(`annotate node ${name}: ${k} is not ours`);
    const what = `annotate node ${name}`;
    const obj = await this.call(`/api/v1/nodes/${checkNodeName(name)}/status`, what, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ metadata: { annotations } }),
    });
    return parseNode(obj);
  }

  /**
   * Watches nodes from `resourceVersion` until the server ends the answer or `signal` aborts:
   * every event goes to `onEvent`. Bookmarks are asked for, so a quiet cluster still moves the
   * resourceVersion on. The server closes the watch after `timeoutSeconds`.
   */
  async watchNodes(
    resourceVersion: string,
    onEvent: (ev: NodeEvent) => void,
    signal: AbortSignal,
    timeoutSeconds = 300,
  ): Promise<void> {
    const q = `watch=1&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}&resourceVersion=${encodeURIComponent(resourceVersion)}`;
    const what = 'watch nodes';
    const req = { ...this.request(`/api/v1/nodes?${q}`, what), timeoutMs: (timeoutSeconds + 60) * 1000 };
    let res: HttpResponse;
    try {
      res = await this.stream(req, (line) => onEvent(parseNodeEvent(line)), signal);
    } catch (e) {
      if (signal.aborted) return;
      throw new Error(`${what}: GET ${this.cfg.server}${req.path}: ${(e as Error).message}`);
    }
    if (res.status !== 200) throw this.failure(what, req, res);
  }
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
