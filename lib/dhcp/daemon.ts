/**
 * `dhcp daemon`: the long-running half of the dhcp IPAM plugin (the same executable, as in the
 * reference). It listens on a unix socket (its own, or one systemd passes in), answers the
 * plugin's requests through the lease keeper and keeps the leases renewed until DEL. SIGTERM and
 * SIGINT stop it cleanly: no new requests, exchanges in flight cancelled, the socket removed,
 * every lease left on disk for the next daemon (none is released). Only this mode loads this file.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname, isAbsolute } from 'node:path';
import { writeAll } from '../stdio';
import { realClock } from './client';
import { LeaseKeeper } from './keeper';
import { netnsIdOf, openTransport, setLinkDown } from './packet-socket';
import { DEFAULT_SOCKET_PATH, MAX_LINE, type DaemonRequest, type DaemonResponse } from './protocol';
import { DEFAULT_STATE_DIR, LeaseStore } from './store';

export interface DaemonFlags {
  socketPath: string;
  hostPrefix: string;
  stateDir: string;
  pidFile: string;
  broadcast: boolean;
  timeoutMs: number;
  resendMaxMs: number;
  resendTimeoutMs: number;
}

const FLAGS: ReadonlyArray<{
  name: string;
  key: keyof DaemonFlags;
  kind: 'string' | 'bool' | 'duration';
  help: string;
}> = [
  {
    name: 'socketpath',
    key: 'socketPath',
    kind: 'string',
    help: `unix socket to listen on (default ${DEFAULT_SOCKET_PATH})`,
  },
  {
    name: 'hostprefix',
    key: 'hostPrefix',
    kind: 'string',
    help: 'prefix to the host root: for namespace paths, the socket and the state dir',
  },
  {
    name: 'statedir',
    key: 'stateDir',
    kind: 'string',
    help: `where leases are kept across restarts (default ${DEFAULT_STATE_DIR})`,
  },
  { name: 'pidfile', key: 'pidFile', kind: 'string', help: 'absolute path to write the daemon PID to' },
  { name: 'broadcast', key: 'broadcast', kind: 'bool', help: 'ask DHCP servers to broadcast their replies' },
  {
    name: 'timeout',
    key: 'timeoutMs',
    kind: 'duration',
    help: 'longest wait for one answer before a request is sent again (default 10s)',
  },
  {
    name: 'resendmax',
    key: 'resendMaxMs',
    kind: 'duration',
    help: 'longest pause between two sends of a request (default 62s)',
  },
  {
    name: 'resendtimeout',
    key: 'resendTimeoutMs',
    kind: 'duration',
    help: 'how long ADD tries to get a lease (default 3m28s)',
  },
];

export class FlagError extends Error {}

/** Go's time.ParseDuration for what people write: 10s, 1m30s, 500ms, 1.5h, 0. */
export function parseDuration(s: string): number {
  if (s === '0') return 0;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let ms = 0;
  let at = 0;
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) throw new FlagError(`invalid duration ${JSON.stringify(s)}`);
    ms += Number(m[1]) * (unit[m[2] as string] as number);
    at = re.lastIndex;
  }
  if (s.length === 0) throw new FlagError('invalid duration ""');
  return Math.round(ms);
}

/** The reference's flags, Go style: `-name value`, `-name=value`, `--name`; booleans alone or `=true|false`. */
export function parseFlags(argv: readonly string[]): DaemonFlags {
  const f: DaemonFlags = {
    socketPath: '',
    hostPrefix: '',
    stateDir: DEFAULT_STATE_DIR,
    pidFile: '',
    broadcast: false,
    timeoutMs: 10_000,
    resendMaxMs: 62_000,
    resendTimeoutMs: 208_000,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--' || !arg.startsWith('-')) throw new FlagError(`unexpected argument ${JSON.stringify(arg)}`);
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = FLAGS.find((x) => x.name === name);
    if (!spec) throw new FlagError(`flag provided but not defined: -${name}`);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (spec.kind === 'bool') value = 'true';
    else {
      if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
      value = argv[++i] as string;
    }
    if (spec.kind === 'bool') {
      if (!/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(value))
        throw new FlagError(`invalid boolean value ${JSON.stringify(value)} for -${name}`);
      (f[spec.key] as boolean) = /^(1|t|T|TRUE|true|True)$/.test(value);
    } else if (spec.kind === 'duration') (f[spec.key] as number) = parseDuration(value);
    else (f[spec.key] as string) = value;
  }
  if (f.socketPath === '') f.socketPath = DEFAULT_SOCKET_PATH;
  if (f.pidFile !== '' && !isAbsolute(f.pidFile))
    throw new FlagError(`Error writing pidfile ${JSON.stringify(f.pidFile)}: path not absolute`);
  if (f.timeoutMs <= 0 || f.resendMaxMs <= 0 || f.resendTimeoutMs <= 0)
    throw new FlagError('durations must be positive');
  return f;
}

const usage = (): string =>
  'Usage: dhcp daemon [flags]\n' +
  FLAGS.map((x) => `  -${x.name}${x.kind === 'bool' ? '' : ` ${x.kind}`}\n\t${x.help}\n`).join('');

const log = (line: string): void => writeAll(2, `${new Date().toISOString()} dhcp: ${line}\n`);

/** A request line checked for shape; the keeper checks names and paths itself. */
export function parseRequest(line: string): DaemonRequest {
  const v = JSON.parse(line) as Record<string, unknown>;
  const str = (x: unknown): x is string => typeof x === 'string';
  const att = (x: unknown): boolean => {
    const a = x as Record<string, unknown> | null;
    return typeof a === 'object' && a !== null && str(a['containerId']) && str(a['networkName']) && str(a['ifName']);
  };
  const byte = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 255;
  switch (v?.['op']) {
    case 'allocate': {
      const o = v['options'] as Record<string, unknown> | null;
      const provide = o?.['provide'];
      const request = o?.['request'];
      if (
        att(v['attachment']) &&
        str(v['netns']) &&
        Number.isInteger(v['priority']) &&
        Array.isArray(provide) &&
        provide.every(
          (p) => Array.isArray(p) && p.length === 2 && byte(p[0]) && str(p[1]) && Buffer.byteLength(p[1]) <= 255,
        ) &&
        Array.isArray(request) &&
        request.every(byte)
      )
        return v as unknown as DaemonRequest;
      break;
    }
    case 'check':
    case 'release':
      if (att(v['attachment'])) return v as unknown as DaemonRequest;
      break;
    case 'gc': {
      const valid = v['valid'];
      if (str(v['networkName']) && Array.isArray(valid) && valid.every((x) => str(x?.containerId) && str(x?.ifName)))
        return v as unknown as DaemonRequest;
      break;
    }
    case 'status':
      return { op: 'status' };
  }
  throw new Error('malformed request');
}

/** Socket activation (sd_listen_fds): fd 3 when systemd passed exactly one socket to this process. */
function activatedFd(): number | undefined {
  if (process.env['LISTEN_PID'] !== String(process.pid)) return undefined;
  const n = Number(process.env['LISTEN_FDS'] ?? '0');
  if (n === 0) return undefined;
  if (n !== 1) throw new Error(`Too many (${n}) FDs passed through socket activation`);
  return 3;
}

/** A socket file left by a daemon that died is removed; one a live daemon listens on is refused. */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const c: Socket = createConnection({ path });
    c.on('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
  if (alive) throw new Error(`another dhcp daemon is listening on ${path}`);
  unlinkSync(path);
}

/** Answers each connection's one request line through the keeper. */
export function serve(server: Server, keeper: LeaseKeeper, conns: Set<Socket>): void {
  server.on('connection', (c: Socket) => {
    conns.add(c);
    c.on('close', () => conns.delete(c));
    c.on('error', () => undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const answer = (r: DaemonResponse): void => {
      if (!c.destroyed) c.end(JSON.stringify(r) + '\n');
    };
    c.on('data', (b: Buffer) => {
      if (done) return;
      chunks.push(b);
      size += b.length;
      if (size > MAX_LINE) {
        done = true;
        return answer({ ok: false, error: { code: 999, msg: 'request too large' } });
      }
      if (!b.includes(10)) return;
      done = true;
      const line = Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? '';
      let req: DaemonRequest;
      try {
        req = parseRequest(line);
      } catch {
        return answer({ ok: false, error: { code: 999, msg: 'malformed request to the dhcp daemon' } });
      }
      void keeper.handle(req).then(answer);
    });
  });
}

export async function daemonMain(argv: readonly string[]): Promise<void> {
  let flags: DaemonFlags;
  try {
    flags = parseFlags(argv);
  } catch (e) {
    writeAll(2, `${(e as Error).message}\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  try {
    await run(flags);
  } catch (e) {
    log((e as Error).message);
    process.exitCode = 1;
  }
}

async function run(flags: DaemonFlags): Promise<void> {
  const socketPath = flags.hostPrefix + flags.socketPath;
  const store = new LeaseStore(flags.hostPrefix + flags.stateDir);
  store.ensureDir();
  const keeper = new LeaseKeeper({
    store,
    openTransport,
    netnsIdOf,
    setLinkDown,
    clock: realClock,
    timing: { timeoutMs: flags.timeoutMs, resendMaxMs: flags.resendMaxMs, resendTimeoutMs: flags.resendTimeoutMs },
    broadcast: flags.broadcast,
    hostPrefix: flags.hostPrefix,
    log,
  });
  if (flags.pidFile) writeFileSync(flags.pidFile, String(process.pid), { mode: 0o644 });

  // Before the socket opens: a DEL must find the lease a previous daemon kept.
  const restored = keeper.restore();
  log(`${restored} lease(s) restored from ${store.dir}`);

  const server = createServer({ allowHalfOpen: true });
  const conns = new Set<Socket>();
  serve(server, keeper, conns);
  const fd = activatedFd();
  if (fd === undefined) {
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
    await clearStaleSocket(socketPath);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(fd === undefined ? { path: socketPath } : { fd }, () => resolve());
  });
  if (fd === undefined) chmodSync(socketPath, 0o600);
  log(`listening on ${fd === undefined ? socketPath : 'the socket systemd passed'}`);

  let stopping = false;
  const shutdown = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping; ${keeper.size} lease(s) kept in ${store.dir} for the next daemon`);
    server.close();
    void keeper.stop().then(() => {
      for (const c of conns) c.end();
      if (fd === undefined) tryUnlink(socketPath);
      if (flags.pidFile) tryUnlink(flags.pidFile);
      // Whatever still holds the loop (a client that does not hang up) must not keep us alive.
      setTimeout(() => process.exit(0), 2000).unref();
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* gone already */
  }
}
