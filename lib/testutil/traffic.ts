/**
 * Real traffic inside a sandbox namespace (test-only module): a TCP echo server and a client in
 * one Node.js process started inside the namespace, so a test sees whether a connection to an
 * address of that namespace actually carries bytes; servers and clients across namespaces; and
 * bulk transfers (N bytes over TCP from one namespace to another, for tests that read the kernel's
 * counters along the way).
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

// Receives `total` bytes on one connection; prints how many arrived.
const SINK = `
const [host, port, total] = process.argv.slice(1);
const srv = require('node:net').createServer((c) => {
  let got = 0;
  c.on('data', (d) => {
    got += d.length;
    if (got >= Number(total)) {
      console.log(JSON.stringify({ bytes: got }));
      process.exit(0);
    }
  });
});
srv.on('error', (e) => { console.log('listen failed: ' + e.code); process.exit(2); });
srv.listen(Number(port), host, () => console.log('listening'));`;

// Sends `total` bytes (in 64 KiB writes, as fast as the socket takes them), from `local` when given.
const SOURCE = `
const [host, port, total, local] = process.argv.slice(1);
const c = require('node:net').connect({ host, port: Number(port), localAddress: local || undefined }, () => {
  const chunk = Buffer.alloc(65536, 120);
  let sent = 0;
  const pump = () => {
    while (sent < Number(total)) {
      sent += chunk.length;
      if (!c.write(chunk)) return void c.once('drain', pump);
    }
    c.end();
  };
  pump();
});
c.on('error', () => undefined); // the sink hangs up once it has everything
c.on('close', () => process.exit(0));`;

export interface Transfer {
  /** Where the receiving end listens: 'host' or a container of the sandbox, and its address. */
  readonly sink: string;
  readonly sinkAddress: string;
  /** Where the sending end runs, and the source address it binds to (default: the route's). */
  readonly source: string;
  readonly sourceAddress?: string;
  readonly bytes: number;
  readonly port: number;
}

/** Moves `bytes` over TCP between two namespaces; resolves with the bytes the sink received. */
export async function transfer(sb: Sandbox, t: Transfer): Promise<number> {
  const argv = [process.execPath, '-e', SINK, t.sinkAddress, String(t.port), String(t.bytes)];
  const sink = spawn('ip', ['netns', 'exec', sb.nsName(t.sink), ...argv], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  let onListening: () => void = () => undefined;
  let onResult: (bytes: number) => void = () => undefined;
  const listening = new Promise<void>((resolve) => (onListening = resolve));
  const result = new Promise<number>((resolve) => (onResult = resolve));
  const exited = new Promise<never>((_, reject) =>
    sink.on('close', (code) => reject(new Error(`sink on ${t.sink} exited with ${code}: ${out.trim()}`))),
  );
  exited.catch(() => undefined);
  sink.stdout?.on('data', (d: Buffer) => {
    out += String(d);
    if (out.includes('listening')) onListening();
    const m = /\{.*\}/.exec(out);
    if (m) onResult((JSON.parse(m[0]) as { bytes: number }).bytes);
  });
  const timer = setTimeout(() => sink.kill('SIGKILL'), 120_000);
  try {
    await Promise.race([listening, exited]);
    const src = await sb.exec(t.source, [
      process.execPath,
      '-e',
      SOURCE,
      t.sinkAddress,
      String(t.port),
      String(t.bytes),
      t.sourceAddress ?? '',
    ]);
    if (src.code !== 0) throw new Error(`source on ${t.source} failed: ${src.stdout}${src.stderr}`);
    return await Promise.race([result, exited]);
  } finally {
    clearTimeout(timer);
    sink.kill('SIGKILL');
  }
}
