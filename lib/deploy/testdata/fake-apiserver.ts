/**
 * Test-only: a tiny Kubernetes API server for the installer's tests, run with Bun inside a
 * sandbox namespace. It serves the nodes of a JSON file (re-read per request, so a test can
 * change them), GET /api/v1/nodes/<name> and GET /api/v1/nodes (with limit/continue paging),
 * demands `Authorization: Bearer <token>`, and appends one line per request to a log.
 *   bun fake-apiserver.ts <host> <port> <cert.pem> <key.pem> <nodes.json> <token> <log>
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [host, port, cert, key, nodesFile, token, log] = process.argv.slice(2);
if (!host || !port || !cert || !key || !nodesFile || !token || !log) {
  process.stderr.write('usage: fake-apiserver.ts host port cert key nodes.json token log\n');
  process.exit(2);
}

const status = (code: number, message: string): string =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code });

const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  const url = new URL(req.url ?? '/', 'https://x');
  const auth = req.headers['authorization'] ?? '';
  appendFileSync(log, `${req.method} ${url.pathname}${url.search} auth=${auth === `Bearer ${token}` ? 'ok' : 'bad'}\n`);
  const send = (code: number, body: string): void => {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(body);
  };
  if (auth !== `Bearer ${token}`) return send(401, status(401, 'Unauthorized'));
  const nodes = JSON.parse(readFileSync(nodesFile, 'utf8')) as Array<{ metadata: { name: string } }>;
  const one = /^\/api\/v1\/nodes\/([^/]+)$/.exec(url.pathname);
  if (req.method === 'GET' && one) {
    const node = nodes.find((n) => n.metadata.name === decodeURIComponent(one[1] ?? ''));
    return node
      ? send(200, JSON.stringify({ kind: 'Node', apiVersion: 'v1', ...node }))
      : send(404, status(404, `nodes "${one[1]}" not found`));
  }
  if (req.method === 'GET' && url.pathname === '/api/v1/nodes') {
    const limit = Number(url.searchParams.get('limit') ?? '0') || nodes.length;
    const from = Number(url.searchParams.get('continue') ?? '0');
    const items = nodes.slice(from, from + limit);
    const next = from + limit < nodes.length ? String(from + limit) : undefined;
    return send(
      200,
      JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: next ? { continue: next } : {}, items }),
    );
  }
  send(404, status(404, 'not found'));
});
server.listen(Number(port), host, () => process.stdout.write('listening\n'));
