/**
 * Test-only: a tiny Kubernetes API server for the installer's tests, run with Bun inside a
 * sandbox namespace. It serves the nodes of a JSON file (re-read for every request and every
 * 100 ms, so a test adds or deletes a node by rewriting it), with annotations set by PATCH kept
 * on top in memory:
 *   GET /api/v1/nodes/<name>, GET /api/v1/nodes (limit/continue paging, a list resourceVersion),
 *   GET /api/v1/nodes?watch=1&resourceVersion=N (every change after N as ADDED / MODIFIED /
 *   DELETED lines, then the changes as they happen; timeoutSeconds ends it),
 *   PATCH /api/v1/nodes/<name>/status (JSON merge patch; only metadata.annotations is applied).
 * Every change gets the next resourceVersion. While `<nodes.json>.nowatch` exists, watches are
 * refused (503) and open ones ended, so a test sees what the periodic resync does alone. It demands `Authorization: Bearer <token>` and
 * appends one line per request to a log.
 *   bun fake-apiserver.ts <host> <port> <cert.pem> <key.pem> <nodes.json> <token> <log>
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer } from 'node:https';

const [host, port, cert, key, nodesFile, token, log] = process.argv.slice(2);
if (!host || !port || !cert || !key || !nodesFile || !token || !log) {
  process.stderr.write('usage: fake-apiserver.ts host port cert key nodes.json token log\n');
  process.exit(2);
}

type Node = { metadata: { name: string; resourceVersion?: string; annotations?: Record<string, string> } };
type Event = { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: Node };

const status = (code: number, message: string): string =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code });

/** Annotations set through PATCH, by node name. */
const annotations = new Map<string, Record<string, string>>();
/** The served objects (JSON text) and the resourceVersion they last changed at, by name. */
let current = new Map<string, { text: string; rv: number }>();
let version = 1;
const history: Event[] = [];
const watchers = new Set<{ res: ServerResponse; from: number }>();

function fromFile(): Node[] {
  try {
    return JSON.parse(readFileSync(nodesFile ?? '', 'utf8')) as Node[];
  } catch {
    return []; // caught mid-rewrite: the next poll sees it whole
  }
}

/** While this file exists, watches are refused and open ones ended (a test of the resync). */
const noWatch = (): boolean => existsSync(`${nodesFile}.nowatch`);

/** Re-reads the file, records what changed as events, and sends them to the watchers. */
function sync(): void {
  if (noWatch())
    for (const w of watchers) {
      w.res.end();
      watchers.delete(w);
    }
  const next = new Map<string, { text: string; rv: number }>();
  const events: Event[] = [];
  for (const n of fromFile()) {
    const extra = annotations.get(n.metadata.name);
    const meta = extra ? { ...n.metadata, annotations: { ...n.metadata.annotations, ...extra } } : n.metadata;
    const text = JSON.stringify({ ...n, metadata: meta });
    const old = current.get(n.metadata.name);
    if (old?.text === text) {
      next.set(n.metadata.name, old);
      continue;
    }
    const rv = ++version;
    next.set(n.metadata.name, { text, rv });
    events.push({ rv, type: old ? 'MODIFIED' : 'ADDED', object: objectOf(text, rv) });
  }
  for (const [name, old] of current)
    if (!next.has(name)) events.push({ rv: ++version, type: 'DELETED', object: objectOf(old.text, version) });
  current = next;
  history.push(...events);
  for (const w of watchers) for (const e of events) send(w, e);
}

function objectOf(text: string, rv: number): Node {
  const n = JSON.parse(text) as Node;
  return { ...n, metadata: { ...n.metadata, resourceVersion: String(rv) } };
}

function send(w: { res: ServerResponse; from: number }, e: Event): void {
  if (e.rv <= w.from) return;
  w.res.write(JSON.stringify({ type: e.type, object: { kind: 'Node', apiVersion: 'v1', ...e.object } }) + '\n');
  w.from = e.rv;
}

const items = (): Node[] => [...current.values()].map((c) => objectOf(c.text, c.rv));

sync();
setInterval(sync, 100);

const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  const url = new URL(req.url ?? '/', 'https://x');
  const auth = req.headers['authorization'] ?? '';
  appendFileSync(log, `${req.method} ${url.pathname}${url.search} auth=${auth === `Bearer ${token}` ? 'ok' : 'bad'}\n`);
  const reply = (code: number, body: string): void => {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(body);
  };
  if (auth !== `Bearer ${token}`) return reply(401, status(401, 'Unauthorized'));
  sync();
  const one = /^\/api\/v1\/nodes\/([^/]+)(\/status)?$/.exec(url.pathname);
  const name = decodeURIComponent(one?.[1] ?? '');
  if (req.method === 'PATCH' && one?.[2]) {
    if (req.headers['content-type'] !== 'application/merge-patch+json')
      return reply(415, status(415, 'unsupported patch type'));
    let body = '';
    req.on('data', (b: Buffer) => (body += b.toString()));
    req.on('end', () => {
      if (!current.has(name)) return reply(404, status(404, `nodes "${name}" not found`));
      const patch = JSON.parse(body) as { metadata?: { annotations?: Record<string, string | null> } };
      const mine = { ...annotations.get(name) };
      for (const [k, v] of Object.entries(patch.metadata?.annotations ?? {}))
        if (v === null) delete mine[k];
        else mine[k] = v;
      annotations.set(name, mine);
      sync();
      const c = current.get(name);
      reply(200, JSON.stringify({ kind: 'Node', apiVersion: 'v1', ...(c ? objectOf(c.text, c.rv) : {}) }));
    });
    return;
  }
  if (req.method === 'GET' && one && !one[2]) {
    const c = current.get(name);
    return c
      ? reply(200, JSON.stringify({ kind: 'Node', apiVersion: 'v1', ...objectOf(c.text, c.rv) }))
      : reply(404, status(404, `nodes "${one[1]}" not found`));
  }
  if (req.method === 'GET' && url.pathname === '/api/v1/nodes') {
    const watch = url.searchParams.get('watch');
    if ((watch === '1' || watch === 'true') && noWatch()) return reply(503, status(503, 'watch refused (test)'));
    if (watch === '1' || watch === 'true') {
      const w = { res, from: Number(url.searchParams.get('resourceVersion') ?? '0') || version };
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      for (const e of history) send(w, e);
      watchers.add(w);
      const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '0');
      const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
      res.on('close', () => {
        clearTimeout(timer);
        watchers.delete(w);
      });
      return;
    }
    const all = items();
    const limit = Number(url.searchParams.get('limit') ?? '0') || all.length;
    const from = Number(url.searchParams.get('continue') ?? '0');
    const page = all.slice(from, from + limit);
    const next = from + limit < all.length ? String(from + limit) : undefined;
    return reply(
      200,
      JSON.stringify({
        kind: 'NodeList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(version), ...(next ? { continue: next } : {}) },
        items: page,
      }),
    );
  }
  reply(404, status(404, 'not found'));
});
server.listen(Number(port), host, () => process.stdout.write('listening\n'));
