/**
 * DNS clients for traffic tests (test-only module), Node.js scripts run in a namespace of the
 * sandbox with the wire format from dns-packet: `dig` asks one question; a `Querier` is already
 * running when a verb returns, so that a question reaches the resolver the moment it is asked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, type Sandbox } from './sandbox';

export interface Answer {
  rcode?: string;
  data: string[];
}

const PACKET = JSON.stringify(join(REPO_ROOT, 'node_modules/dns-packet'));

// One question over UDP, prints {rcode, data[]} or "timeout".
const DIG = `
const packet = require(${PACKET});
const [server, name, type] = process.argv.slice(1);
const s = require('node:dgram').createSocket(server.includes(':') ? 'udp6' : 'udp4');
const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, 1500);
s.on('message', (m) => { const r = packet.decode(m); console.log(JSON.stringify({ rcode: r.rcode, data: (r.answers || []).map((a) => String(a.data)) })); process.exit(0); });
s.send(packet.encode({ type: 'query', id: 7, flags: packet.RECURSION_DESIRED, questions: [{ type, name }] }), 53, server);`;

// A line "server name type" on stdin gives one line on stdout, {rcode, data[]} or "timeout";
// "ready" once bound.
const QUERIER = `
const packet = require(${PACKET});
const s = require('node:dgram').createSocket('udp4');
let pending = null, id = 0;
s.on('message', (m) => {
  const r = packet.decode(m);
  if (!pending || r.id !== pending.id) return;
  clearTimeout(pending.timer); pending = null;
  console.log(JSON.stringify({ rcode: r.rcode, data: (r.answers || []).map((a) => String(a.data)) }));
});
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const [server, name, type] = line.split(' ');
  id = (id + 1) & 0xffff;
  pending = { id, timer: setTimeout(() => { pending = null; console.log('timeout'); }, 1500) };
  s.send(packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ type, name }] }), 53, server);
});
s.bind(0, () => console.log('ready'));`;

/** One question from namespace `where` ('host' or a container) to `server`; 'timeout' when nothing answers. */
export async function dig(
  sb: Sandbox,
  where: string,
  server: string,
  name: string,
  type = 'A',
): Promise<Answer | 'timeout'> {
  const out = (await sb.exec(where, [process.execPath, '-e', DIG, server, name, type])).stdout.trim();
  return out === 'timeout' || out === '' ? 'timeout' : (JSON.parse(out) as Answer);
}

/** The addresses `server` answers for `name` (none on a timeout). */
export async function resolves(
  sb: Sandbox,
  where: string,
  server: string,
  name: string,
  type = 'A',
): Promise<string[]> {
  const a = await dig(sb, where, server, name, type);
  return a === 'timeout' ? [] : a.data;
}

/** The resident client in a container of the sandbox. */
export class Querier {
  private readonly lines: string[] = [];
  private wake: (() => void) | undefined;

  private constructor(private readonly child: ChildProcess) {
    let rest = '';
    child.stdout?.on('data', (d: Buffer) => {
      const parts = (rest + String(d)).split('\n');
      rest = parts.pop() ?? '';
      this.lines.push(...parts);
      this.wake?.();
    });
  }

  static async start(sb: Sandbox, ctr: string): Promise<Querier> {
    const child = spawn('ip', ['netns', 'exec', sb.nsName(ctr), process.execPath, '-e', QUERIER], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    const q = new Querier(child);
    if ((await q.next()) !== 'ready') throw new Error('the DNS client did not start');
    return q;
  }

  private async next(timeoutMs = 10_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (Date.now() > end) throw new Error('the DNS client said nothing');
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 100);
      });
    }
    return this.lines.shift() ?? '';
  }

  async ask(server: string, name: string, type = 'A'): Promise<Answer | 'timeout'> {
    this.child.stdin?.write(`${server} ${name} ${type}\n`);
    const line = await this.next();
    return line === 'timeout' ? 'timeout' : (JSON.parse(line) as Answer);
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}
