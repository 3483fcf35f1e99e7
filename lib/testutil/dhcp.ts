/**
 * A real DHCP server and the dhcp daemon inside a sandbox (test-only module): dnsmasq serving one
 * interface of a sandbox namespace, with its lease file and log in the sandbox's directory, and a
 * dhcp daemon (ours or the reference's) in the sandbox's host namespace with its socket and state
 * in temporary paths. Both are started as children of the test and stopped by their PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireProgram } from './programs';
import type { Sandbox } from './sandbox';
import { waitFor } from './wait';

export { waitFor };

export interface DnsmasqLease {
  expiry: number;
  mac: string;
  ip: string;
  clientId: string;
}

export interface Dnsmasq {
  readonly leaseFile: string;
  readonly logFile: string;
  /** The server's leases as its lease file lists them now. */
  leases(): DnsmasqLease[];
  log(): string;
  stop(): Promise<void>;
}

export interface DnsmasqOptions {
  /** Sandbox namespace ('host' or a container name) and the interface it serves. */
  where: string;
  iface: string;
  /** First and last address handed out, the netmask and lease time (dnsmasq's minimum is 2m). */
  range: [string, string];
  netmask?: string;
  leaseTime?: string;
  /** Extra dnsmasq arguments: options such as `--dhcp-option=option:T1,2`. */
  extra?: readonly string[];
  tag: string;
}

export async function startDnsmasq(sb: Sandbox, o: DnsmasqOptions): Promise<Dnsmasq> {
  const exe = requireProgram('dnsmasq');
  const leaseFile = join(sb.dir, `${o.tag}.leases`);
  const logFile = join(sb.dir, `${o.tag}.log`);
  const ns = o.where === 'host' ? sb.hostNs : sb.nsName(o.where);
  const args = [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--port=0', // no DNS
    `--interface=${o.iface}`,
    '--bind-interfaces',
    `--dhcp-range=${o.range[0]},${o.range[1]},${o.netmask ?? '255.255.255.0'},${o.leaseTime ?? '2m'}`,
    `--dhcp-leasefile=${leaseFile}`,
    `--pid-file=${join(sb.dir, `${o.tag}.pid`)}`,
    '--log-dhcp',
    `--log-facility=${logFile}`,
    '--no-ping', // no ICMP probe (seconds) before each offer
    ...(o.extra ?? []),
  ];
  const child = spawn('ip', ['netns', 'exec', ns, exe, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const readLog = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await waitFor('dnsmasq to start', () => {
    if (child.exitCode !== null) throw new Error(`dnsmasq exited ${child.exitCode}: ${stderr}`);
    return readLog().includes('sockets bound exclusively');
  });
  return {
    leaseFile,
    logFile,
    leases: () => parseLeases(existsSync(leaseFile) ? readFileSync(leaseFile, 'utf8') : ''),
    log: readLog,
    stop: async () => void (await stopChild(child)),
  };
}

export function parseLeases(text: string): DnsmasqLease[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('duid'))
    .map((l) => {
      const [expiry, mac, ip, , clientId] = l.split(' ');
      return { expiry: Number(expiry), mac: mac ?? '', ip: ip ?? '', clientId: clientId ?? '' };
    });
}

/** dnsmasq's text for a client ID of type 0 and `text` (`00:63:31:...`). */
export const clientIdHex = (text: string): string =>
  ['00', ...Buffer.from(text).toString('hex').match(/../g)!].join(':');

export interface DhcpDaemon {
  readonly socketPath: string;
  readonly stateDir: string;
  readonly pid: number;
  /** Everything the daemon wrote to stderr so far. */
  output(): string;
  /** SIGTERM (or another signal) and wait for the exit; resolves to the exit code (or signal). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Starts `<exe> daemon -socketpath … [flags]` in the sandbox's host namespace and waits until
 * its socket accepts connections. `exe` is our bin/dhcp or the reference's /usr/lib/cni/dhcp.
 */
export async function startDhcpDaemon(
  sb: Sandbox,
  exe: string,
  o: { socketPath: string; stateDir?: string; flags?: readonly string[] },
): Promise<DhcpDaemon> {
  const args = [
    'daemon',
    '-socketpath',
    o.socketPath,
    ...(o.stateDir ? ['-statedir', o.stateDir] : []),
    ...(o.flags ?? []),
  ];
  // `ip netns exec` execs the daemon itself: the child's PID is the daemon's.
  const child = spawn('ip', ['netns', 'exec', sb.hostNs, exe, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  await waitFor(`the dhcp daemon to listen on ${o.socketPath}`, async () => {
    if (child.exitCode !== null) throw new Error(`the dhcp daemon exited ${child.exitCode}: ${out}`);
    return existsSync(o.socketPath) && (await connects(o.socketPath));
  });
  return {
    socketPath: o.socketPath,
    stateDir: o.stateDir ?? '',
    pid: child.pid ?? -1,
    output: () => out,
    stop: (signal = 'SIGTERM') => stopChild(child, signal),
  };
}

async function connects(path: string): Promise<boolean> {
  const { createConnection } = await import('node:net');
  return new Promise((resolve) => {
    const c = createConnection({ path });
    c.on('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode ?? child.signalCode ?? -1);
    child.once('exit', (code, sig) => resolve(code ?? sig ?? -1));
    child.kill(signal);
  });
}
