/**
 * What the dhcp plugin and its daemon say to each other over the daemon's unix socket: one JSON
 * request per connection, one JSON response, each a single line. (The reference speaks Go's
 * net/rpc over HTTP instead; the two do not understand each other: see README.md.) This module
 * is the plugin's side and the shared types; it loads nothing but node:net.
 */
import { createConnection } from 'node:net';
import type { Result } from '../cni/result/types';
import type { LeaseOptions } from './options';

export const DEFAULT_SOCKET_PATH = '/run/cni/dhcp.sock';
/** Largest request or response line either side accepts. */
export const MAX_LINE = 1 << 20;

export interface Attachment {
  containerId: string;
  networkName: string;
  ifName: string;
}

export type DaemonRequest =
  | {
      op: 'allocate';
      attachment: Attachment;
      /** Absolute path of the container's network namespace (the daemon adds its -hostprefix). */
      netns: string;
      options: LeaseOptions;
      /** Route metric (`ipam.priority`); 0 leaves it unset. */
      priority: number;
    }
  | { op: 'check'; attachment: Attachment }
  | { op: 'release'; attachment: Attachment }
  | { op: 'gc'; networkName: string; valid: Array<{ containerId: string; ifName: string }> }
  | { op: 'status' };

export interface DaemonError {
  code: number;
  msg: string;
  details?: string;
}

export type DaemonResponse = { ok: true; result?: Result } | { ok: false; error: DaemonError };

/** Why the daemon could not be asked (not its answer): no daemon, or it went away mid-call. */
export class DaemonUnreachable extends Error {
  constructor(
    readonly socketPath: string,
    readonly reason: string,
    readonly notRunning: boolean,
  ) {
    super(reason);
    this.name = 'DaemonUnreachable';
  }
}

/**
 * Sends one request and reads the one response. A missing socket file or one nobody listens on
 * fails at once (ENOENT, ECONNREFUSED): no waiting for a daemon that is not there.
 */
export function callDaemon(socketPath: string, req: DaemonRequest): Promise<DaemonResponse> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ path: socketPath });
    const chunks: Buffer[] = [];
    let size = 0;
    let connected = false;
    let settled = false;
    const finish = (f: () => void): void => {
      if (settled) return;
      settled = true;
      sock.destroy();
      f();
    };
    sock.on('connect', () => {
      connected = true;
      sock.write(JSON.stringify(req) + '\n');
    });
    sock.on('data', (b: Buffer) => {
      chunks.push(b);
      size += b.length;
      if (size > MAX_LINE)
        finish(() => reject(new DaemonUnreachable(socketPath, 'the daemon sent an oversized response', false)));
      else if (b.includes(10)) finish(() => parse(Buffer.concat(chunks), socketPath, resolve, reject));
    });
    sock.on('end', () => finish(() => parse(Buffer.concat(chunks), socketPath, resolve, reject)));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? '';
      const down = !connected && (code === 'ENOENT' || code === 'ECONNREFUSED');
      const reason = connected ? `the daemon closed the connection: ${e.message}` : `${code || e.message}`;
      finish(() => reject(new DaemonUnreachable(socketPath, reason, down)));
    });
  });
}

function parse(
  bytes: Buffer,
  socketPath: string,
  resolve: (r: DaemonResponse) => void,
  reject: (e: Error) => void,
): void {
  const line = bytes.toString('utf8').split('\n')[0] ?? '';
  if (line === '')
    return reject(new DaemonUnreachable(socketPath, 'the daemon closed the connection without an answer', false));
  try {
    const v = JSON.parse(line) as unknown;
    if (typeof v === 'object' && v !== null && typeof (v as { ok?: unknown }).ok === 'boolean') {
      return resolve(v as DaemonResponse);
    }
  } catch {
    /* reported below */
  }
  reject(new DaemonUnreachable(socketPath, 'the daemon sent an answer this plugin does not understand', false));
}
