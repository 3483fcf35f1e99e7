/**
 * One DNS question to a resolver over UDP, the wire format from dns-packet: how dnsname knows
 * that dnsmasq has read its hosts file (after SIGHUP it reloads asynchronously), so that a name
 * resolves when ADD returns and is gone when DEL returns. In the executable the socket is Bun's
 * own (node:dgram's emulation costs tens of ms to load there); under Node.js, node:dgram.
 */
import { randomInt } from 'node:crypto';
import * as packet from 'dns-packet';

export interface Answer {
  readonly rcode: string;
  /** The addresses answered (A and AAAA data). */
  readonly addresses: string[];
}

function decodeReply(msg: Buffer, id: number): Answer | undefined {
  try {
    const r = packet.decode(msg);
    if (r.id !== id || !r.flag_qr) return undefined;
    const addresses: string[] = [];
    for (const a of r.answers ?? []) if (a.type === 'A' || a.type === 'AAAA') addresses.push(a.data);
    // dns-packet decodes the response code; its types do not name it
    const rcode = (r as packet.DecodedPacket & { rcode?: string }).rcode ?? 'NOERROR';
    return { rcode, addresses };
  } catch {
    return undefined; // not a DNS reply: keep waiting
  }
}

/** Sends `query` to server:53 and resolves with the first datagram `accept` takes, or undefined after `timeoutMs`. */
function exchange(
  server: string,
  query: Buffer,
  accept: (msg: Buffer) => Answer | undefined,
  timeoutMs: number,
): Promise<Answer | undefined> {
  return new Promise((resolve) => {
    let done = false;
    let close = (): void => undefined;
    const finish = (a: Answer | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      close();
      resolve(a);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const onMessage = (msg: Buffer): void => {
      const a = accept(msg);
      if (a) finish(a);
    };
    if (typeof Bun !== 'undefined') {
      Bun.udpSocket({
        hostname: server.includes(':') ? '::' : '0.0.0.0',
        socket: { data: (_s, data) => onMessage(Buffer.from(data)) },
      }).then(
        (s) => {
          close = () => s.close();
          if (done) return s.close();
          if (!s.send(query, 53, server)) finish(undefined);
        },
        () => finish(undefined),
      );
      return;
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node.js only (unit tests)
    const dgram = require('node:dgram') as typeof import('node:dgram');
    const sock = dgram.createSocket(server.includes(':') ? 'udp6' : 'udp4');
    close = () => sock.close();
    sock.on('error', () => finish(undefined));
    sock.on('message', onMessage);
    sock.send(query, 53, server, (err) => err && finish(undefined));
  });
}

/** Asks `server` for `name` (type A or AAAA); undefined when no answer comes within `timeoutMs`. */
export function ask(server: string, name: string, type: 'A' | 'AAAA', timeoutMs = 300): Promise<Answer | undefined> {
  const id = randomInt(0, 65536);
  const query = packet.encode({
    type: 'query',
    id,
    flags: packet.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  });
  return exchange(server, query, (m) => decodeReply(m, id), timeoutMs);
}
