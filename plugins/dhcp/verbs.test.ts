/**
 * The dhcp plugin's verbs through the real dispatcher, talking over a unix socket to a daemon
 * (the real keeper and server code) whose DHCP server is in memory: results at old and new
 * cniVersions, config errors before the daemon is asked, the daemon down, DEL, CHECK, GC, STATUS.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../../lib/dhcp/client';
import { parseFlags, parseDuration, serve } from '../../lib/dhcp/daemon';
import { LeaseKeeper } from '../../lib/dhcp/keeper';
import { LeaseStore } from '../../lib/dhcp/store';
import { FakeDhcpServer, FakeTransport } from '../../lib/testutil/dhcp-server';
import { callVerb } from '../../lib/testutil/verbs';
import { add } from './add';
import { check } from './check';
import { del } from './del';
import { gc } from './gc';
import { status } from './status';

const verbs = { add, del, check, gc, status };
let dir = '';
let sock = '';
let server: Server;
let dhcpServer: FakeDhcpServer;
const conns = new Set<Socket>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tscni-dhcp-verbs-'));
  sock = join(dir, 'dhcp.sock');
  writeFileSync(join(dir, 'netns'), '');
  dhcpServer = new FakeDhcpServer();
  const keeper = new LeaseKeeper({
    store: new LeaseStore(join(dir, 'state')),
    openTransport: (_ns, ifName) => new FakeTransport(dhcpServer, Uint8Array.of(2, 0, 0, 0, 0, 7), ifName),
    netnsIdOf: () => ({ dev: 1, ino: 2 }),
    setLinkDown: () => undefined,
    clock: realClock,
    timing: { timeoutMs: 200, resendMaxMs: 400, resendTimeoutMs: 1000 },
    broadcast: false,
    hostPrefix: '',
    log: () => undefined,
  });
  server = createServer({ allowHalfOpen: true });
  serve(server, keeper, conns);
  await new Promise<void>((r) => server.listen(sock, r));
});
afterAll(async () => {
  for (const c of conns) c.destroy();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const conf = (version = '1.0.0', ipam: Record<string, unknown> = {}) => ({
  cniVersion: version,
  name: 'dnet',
  type: 'dhcp',
  ipam: { type: 'dhcp', daemonSocketPath: sock, ...ipam },
});
const call = (cmd: string, c: object, opts: { id?: string; env?: Record<string, string> } = {}) =>
  callVerb(verbs, cmd, c, { netns: join(dir, 'netns'), ...opts });

describe('dhcp plugin verbs', () => {
  it('ADD returns the lease in the config version: 1.0.0 and 0.2.0', async () => {
    const r = await call('ADD', conf(), { id: 'c1' });
    expect(r.json).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: '10.9.0.10/24', gateway: '10.9.0.1' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.9.0.1' }],
    });
    const old = await call('ADD', conf('0.2.0'), { id: 'c2' });
    expect(old.json).toEqual({
      cniVersion: '0.2.0',
      ip4: { ip: '10.9.0.11/24', gateway: '10.9.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.9.0.1' }] },
      dns: {}, // as the reference prints a 0.2.0 result
    });
  });

  it('CHECK finds the lease; DEL releases it; CHECK then fails; DEL again succeeds', async () => {
    expect((await call('CHECK', conf(), { id: 'c1' })).code).toBe(0);
    expect((await call('DEL', conf(), { id: 'c1' })).code).toBe(0);
    expect([...dhcpServer.leases.values()]).toEqual(['10.9.0.11']);
    expect((await call('CHECK', conf(), { id: 'c1' })).json).toMatchObject({
      code: 999,
      msg: 'no DHCP lease for c1/dnet/eth0',
    });
    expect((await call('DEL', conf(), { id: 'c1' })).code).toBe(0);
  });

  it('GC releases what is not a valid attachment; STATUS is ready', async () => {
    const gcConf = { ...conf('1.1.0'), 'cni.dev/valid-attachments': [] };
    expect((await call('GC', gcConf)).code).toBe(0);
    expect(dhcpServer.leases.size).toBe(0);
    expect((await call('STATUS', conf('1.1.0'))).code).toBe(0);
  });

  it('bad option names and values are code 7 before the daemon is asked', async () => {
    const bad = await call('ADD', conf('1.0.0', { request: [{ option: 'no-such-option' }] }));
    expect(bad.json).toMatchObject({ code: 7, msg: expect.stringContaining('Can not parse option "no-such-option"') });
    const long = await call('ADD', conf('1.0.0', { provide: [{ option: 'host-name', value: 'x'.repeat(256) }] }));
    expect(long.json).toMatchObject({ code: 7, msg: 'value too long for option "host-name"' });
    const reserved = await call('ADD', conf('1.0.0', { provide: [{ option: '53', value: 'x' }] }));
    expect(reserved.json).toMatchObject({ code: 7 });
    const typed = await call('ADD', conf('1.0.0', { priority: 'high' }));
    expect(typed.json).toMatchObject({ code: 7, details: expect.stringContaining('ipam.priority') });
  });

  it('without a daemon: ADD and DEL are code 11 naming the socket, STATUS is 50', async () => {
    const none = { daemonSocketPath: join(dir, 'nobody.sock') };
    const r = await call('ADD', conf('1.0.0', none));
    expect(r.json).toMatchObject({
      code: 11,
      msg: `the dhcp daemon is not running: nothing listens on ${join(dir, 'nobody.sock')}`,
    });
    expect((await call('DEL', conf('1.0.0', none))).json).toMatchObject({ code: 11 });
    expect((await call('STATUS', conf('1.1.0', none))).json).toMatchObject({ code: 50 });
  });
});

describe('dhcp daemon flags', () => {
  it('takes the reference flags, Go style', () => {
    expect(
      parseFlags(['-socketpath', '/x.sock', '-broadcast', '--timeout=2s', '-resendmax', '1m30s', '-hostprefix=/host']),
    ).toMatchObject({
      socketPath: '/x.sock',
      broadcast: true,
      timeoutMs: 2000,
      resendMaxMs: 90_000,
      hostPrefix: '/host',
      stateDir: '/run/cni/dhcp',
    });
    expect(parseFlags([])).toMatchObject({
      socketPath: '/run/cni/dhcp.sock',
      timeoutMs: 10_000,
      resendTimeoutMs: 208_000,
    });
    expect(parseFlags(['-broadcast=false']).broadcast).toBe(false);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(() => parseFlags(['-nope'])).toThrow('flag provided but not defined: -nope');
    expect(() => parseFlags(['-timeout'])).toThrow('flag needs an argument: -timeout');
    expect(() => parseFlags(['-timeout', '10'])).toThrow('invalid duration "10"');
    expect(() => parseFlags(['-pidfile', 'rel.pid'])).toThrow(/path not absolute/);
  });
});
