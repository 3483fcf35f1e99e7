/**
 * Real traffic inside a sandbox namespace (test-only module): a TCP echo server and a client in
 * one Node.js process started inside the namespace, so a test sees whether a connection to an
 * address of that namespace actually carries bytes.
 */
import type { Sandbox } from './sandbox';

// Listens on `host`, connects to itself, prints what comes back; exit 0 only when the echo arrives.
const ECHO = `
const net = require('node:net');
const host = process.argv[1];
const srv = net.createServer((s) => s.pipe(s));
srv.on('error', (e) => { console.log('listen failed: ' + e.code); process.exit(2); });
srv.listen(0, host, () => {
  const c = net.connect(srv.address().port, host);
  c.setTimeout(1500, () => { console.log('timeout'); process.exit(3); });
  c.on('error', (e) => { console.log('connect failed: ' + e.code); process.exit(4); });
  c.on('data', (d) => { console.log(String(d)); process.exit(0); });
  c.write('echo via ' + host);
});`;

/** Runs the echo inside container `where` of `sb`; the output says what happened. */
export async function tcpEcho(sb: Sandbox, where: string, host: string): Promise<{ ok: boolean; output: string }> {
  const r = await sb.exec(where, [process.execPath, '-e', ECHO, host]);
  return { ok: r.code === 0 && r.stdout.includes(`echo via ${host}`), output: (r.stdout + r.stderr).trim() };
}
