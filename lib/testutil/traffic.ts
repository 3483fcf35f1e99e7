/**
 * Real traffic inside a sandbox namespace (test-only module): a TCP echo server and a client in
 * one Node.js process started inside the namespace, so a test sees whether a connection to an
 * address of that namespace actually carries bytes.
 */
import { spawn } from 'node:child_process';
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

/**
 * A server in a namespace of the sandbox answering every TCP connection (or UDP datagram) with
 * `reply`, or with the peer's address for `'peer'`. Resolves once it listens (it says so on its
 * stdout), so no test waits a fixed time. Stop it with `stop()` (by its PID).
 */
export interface TestServer {
  stop(): void;
}

const SERVER = `
const [proto, port, reply] = process.argv.slice(1);
const answer = (addr) => (reply === 'peer' ? addr.replace(/^::ffff:/, '') : reply);
if (proto === 'udp') {
  const dgram = require('node:dgram');
  for (const family of ['udp4', 'udp6']) {
    const s = dgram.createSocket({ type: family, ipv6Only: family === 'udp6' });
    s.on('message', (m, r) => s.send(answer(r.address), r.port, r.address));
    s.on('error', () => undefined);
    s.bind(Number(port), () => family === 'udp4' && console.log('listening'));
  }
} else {
  require('node:net').createServer((c) => c.end(answer(c.remoteAddress))).listen(Number(port), () => console.log('listening'));
}`;

export async function startServer(
  sb: Sandbox,
  where: string,
  port: number,
  reply: string,
  proto: 'tcp' | 'udp' = 'tcp',
): Promise<TestServer> {
  const child = spawn(
    'ip',
    ['netns', 'exec', sb.nsName(where), process.execPath, '-e', SERVER, proto, String(port), reply],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server on ${where}:${port} did not start`)), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (String(d).includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server on ${where}:${port} exited with ${code}`));
    });
  });
  return { stop: () => void child.kill('SIGKILL') };
}

const CLIENT = `
const [proto, host, port] = process.argv.slice(1);
setTimeout(() => process.exit(1), 3000);
if (proto === 'udp') {
  const s = require('node:dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.on('message', (m) => { process.stdout.write(m); process.exit(0); });
  s.send('x', Number(port), host);
} else {
  const c = require('node:net').connect(Number(port), host);
  let d = '';
  c.on('data', (x) => (d += x));
  c.on('end', () => { process.stdout.write(d); process.exit(0); });
  c.on('error', () => process.exit(1));
}`;

/** What a request from `where` ('host' or a container of `sb`) to host:port gets back ('' when it fails). */
export async function fetchFrom(
  sb: Sandbox,
  where: string,
  host: string,
  port: number,
  proto: 'tcp' | 'udp' = 'tcp',
): Promise<string> {
  return (await sb.exec(where, [process.execPath, '-e', CLIENT, proto, host, String(port)])).stdout;
}

/** True when one ping from `where` ('host' or a container of `sb`) to `to` is answered within `waitSeconds`. */
export async function pings(sb: Sandbox, where: string, to: string, waitSeconds: number): Promise<boolean> {
  return (await sb.exec(where, ['ping', '-c1', `-W${waitSeconds}`, to])).code === 0;
}
