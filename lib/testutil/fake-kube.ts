/**
 * Test-only helpers for the installer's integration tests (lib/deploy): a throwaway PKI made with openssl,
 * the fake API server started inside a sandbox namespace, and a command wrapper that shows a
 * service-account directory at the in-cluster path in a private mount namespace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runOk } from './sandbox';
import { SERVICE_ACCOUNT_DIR } from '../deploy/kube';
import { requireProgram } from './programs';

export const BUN = join(REPO_ROOT, 'node_modules', '.bin', 'bun');
const FAKE_API = join(REPO_ROOT, 'lib', 'deploy', 'testdata', 'fake-apiserver.ts');

export interface Pki {
  caCert: string;
  /** A CA that did not sign the server certificate. */
  otherCaCert: string;
  serverCert: string;
  serverKey: string;
}

/** A CA and a server certificate for `ips` (subjectAltName IP entries), valid for a day. */
export async function makePki(dir: string, ips: readonly string[]): Promise<Pki> {
  requireProgram('openssl');
  mkdirSync(dir, { recursive: true });
  const p = (f: string): string => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  for (const ca of ['ca', 'other-ca'])
    await runOk([
      'openssl',
      'req',
      '-x509',
      ...ec,
      '-keyout',
      p(`${ca}.key`),
      '-out',
      p(`${ca}.crt`),
      '-days',
      '1',
      '-subj',
      `/CN=tscni-test-${ca}`,
    ]);
  await runOk([
    'openssl',
    'req',
    ...ec,
    '-keyout',
    p('server.key'),
    '-out',
    p('server.csr'),
    '-subj',
    '/CN=kube-apiserver',
  ]);
  writeFileSync(
    p('ext.cnf'),
    `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')},DNS:kubernetes.default.svc\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  await runOk([
    'openssl',
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.crt'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-out',
    p('server.crt'),
    '-days',
    '1',
    '-extfile',
    p('ext.cnf'),
  ]);
  return {
    caCert: p('ca.crt'),
    otherCaCert: p('other-ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
  };
}

/** A v1 Node as the API serves it (only the fields the installer reads, plus a little noise). */
export function nodeObject(name: string, podCidrs: readonly string[], internalIp: string): Record<string, unknown> {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: { podCIDR: podCidrs[0], podCIDRs: podCidrs, providerID: `kind://docker/kind/${name}` },
    status: {
      addresses: [
        { type: 'InternalIP', address: internalIp },
        { type: 'Hostname', address: name },
      ],
    },
  };
}

export interface FakeApi {
  readonly child: ChildProcess;
  readonly log: string;
  stop(): Promise<void>;
}

/** Starts the fake API server inside network namespace `ns`; resolves once it listens. */
export async function startFakeApi(
  ns: string,
  o: { host: string; port: number; pki: Pki; nodesFile: string; token: string; dir: string },
): Promise<FakeApi> {
  const log = join(o.dir, 'apiserver.log');
  writeFileSync(log, '');
  const argv = [BUN, FAKE_API, o.host, String(o.port), o.pki.serverCert, o.pki.serverKey, o.nodesFile, o.token, log];
  // `ip netns exec` execs the command: the child's PID is the server's, ours to end.
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fake API server did not start: ${err}`)), 15_000);
    child.stdout?.on('data', (b: Buffer) => {
      if (b.toString().includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fake API server exited ${code}: ${err}`));
    });
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await gone;
  };
  return { child, log, stop };
}

/** Writes a service-account dir (token, ca.crt, namespace) as the kubelet projects it. */
export function serviceAccountDir(dir: string, token: string, caPem: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'token'), token);
  writeFileSync(join(dir, 'ca.crt'), caPem);
  writeFileSync(join(dir, 'namespace'), 'kube-system');
  return dir;
}

/**
 * argv run in a private mount namespace where `saDir` is at the in-cluster path; /run is a fresh
 * tmpfs there (the path's parent does not exist on the machine and is not created on it).
 */
export function withServiceAccount(saDir: string, argv: readonly string[]): string[] {
  const mountPoint = SERVICE_ACCOUNT_DIR.replace(/^\/var\/run\//, '/run/');
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    `mount -t tmpfs tmpfs /run && mkdir -p ${mountPoint} && mount --bind "$0" ${mountPoint} && exec "$@"`,
    saDir,
    ...argv,
  ];
}
