/**
 * The lease keeper against an in-memory DHCP server: leases recorded before ADD returns, repeated
 * ADD, release, GC, CHECK, upkeep (renewal, a NAK ends the lease and sets the link down, a gone
 * namespace is forgotten), and a second keeper on the same state directory carrying on.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeDhcpServer, FakeTransport } from '../testutil/dhcp-server';
import { waitFor } from '../testutil/dhcp';
import { realClock } from './client';
import { LeaseKeeper } from './keeper';
import { prepareOptions } from './options';
import type { DaemonRequest } from './protocol';
import { LeaseStore } from './store';
import { Opt, u32 } from './wire';

let dir: string;
let server: FakeDhcpServer;
let netns: Map<string, { dev: number; ino: number }>;
let downs: string[];
let log: string[];

function keeper(): LeaseKeeper {
  return new LeaseKeeper({
    store: new LeaseStore(join(dir, 'state')),
    openTransport: (ns, ifName) => {
      if (!netns.has(ns)) throw new Error(`no netns ${ns}`);
      return new FakeTransport(server, Uint8Array.of(2, 0, 0, 0, 0, 0x42), ifName);
    },
    netnsIdOf: (p) => netns.get(p),
    setLinkDown: (ns, ifName) => void downs.push(`${ns} ${ifName}`),
    clock: realClock,
    timing: { timeoutMs: 200, resendMaxMs: 400, resendTimeoutMs: 2000 },
    broadcast: false,
    hostPrefix: '',
    log: (l) => void log.push(l),
  });
}

const attachment = (id = 'c1') => ({ containerId: id, networkName: 'net', ifName: 'eth0' });
const allocate = (id = 'c1', ns = '/run/netns/a'): DaemonRequest => ({
  op: 'allocate',
  attachment: attachment(id),
  netns: ns,
  options: prepareOptions('', [], []),
  priority: 0,
});
const records = (): string[] => readdirSync(join(dir, 'state')).filter((f) => f.endsWith('.json'));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tscni-dhcp-keeper-'));
  server = new FakeDhcpServer({
    options: [
      [Opt.RenewalTime, u32(1)],
      [Opt.RebindingTime, u32(100)],
    ],
  });
  netns = new Map([
    ['/run/netns/a', { dev: 4, ino: 100 }],
    ['/run/netns/b', { dev: 4, ino: 101 }],
  ]);
  downs = [];
  log = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('LeaseKeeper', () => {
  it('records the lease before answering; a repeated ADD gets the same lease; DEL releases it', async () => {
    const k = keeper();
    const r = await k.handle(allocate());
    expect(r).toEqual({
      ok: true,
      result: expect.objectContaining({ ips: [{ address: '10.9.0.10/24', gateway: '10.9.0.1' }] }),
    });
    expect(records()).toHaveLength(1);
    expect(await k.handle(allocate())).toEqual(r);
    expect(server.seen.filter((s) => s.startsWith('DISCOVER'))).toHaveLength(1);
    expect(await k.handle({ op: 'check', attachment: attachment() })).toEqual({ ok: true });
    expect(await k.handle({ op: 'release', attachment: attachment() })).toEqual({ ok: true });
    expect(server.leases.size).toBe(0);
    expect(records()).toHaveLength(0);
    expect(await k.handle({ op: 'release', attachment: attachment() })).toEqual({ ok: true });
    expect(await k.handle({ op: 'check', attachment: attachment() })).toMatchObject({
      ok: false,
      error: { msg: 'no DHCP lease for c1/net/eth0' },
    });
    await k.stop();
  });

  it('refuses hostile names and relative namespace paths', async () => {
    const k = keeper();
    expect(
      await k.handle({ ...allocate(), attachment: { ...attachment(), containerId: '../x' } } as DaemonRequest),
    ).toMatchObject({ ok: false, error: { code: 4 } });
    expect(await k.handle(allocate('c1', 'run/netns/a'))).toMatchObject({ ok: false, error: { code: 8 } });
    expect(await k.handle(allocate('c1', '/run/netns/missing'))).toMatchObject({ ok: false, error: { code: 8 } });
    await k.stop();
  });

  it('GC releases the leases of the network that are not valid attachments', async () => {
    const k = keeper();
    await k.handle(allocate('c1'));
    await k.handle(allocate('c2', '/run/netns/b'));
    expect(await k.handle({ op: 'gc', networkName: 'net', valid: [{ containerId: 'c2', ifName: 'eth0' }] })).toEqual({
      ok: true,
    });
    expect([...server.leases.values()]).toEqual(['10.9.0.11']);
    expect(records()).toHaveLength(1);
    await k.stop();
  });

  it('renews at T1; a restarted keeper restores the lease and renews it; stop() releases nothing', async () => {
    const k = keeper();
    await k.handle(allocate());
    await waitFor('a renewal', () => log.some((l) => /c1\/net\/eth0: lease of 10\.9\.0\.10 renewed/.test(l)), 10_000);
    await k.stop();
    expect(server.leases.size).toBe(1);
    expect(records()).toHaveLength(1);
    log = [];
    const k2 = keeper();
    expect(k2.restore()).toBe(1);
    await waitFor(
      'a renewal by the second keeper',
      () => log.some((l) => /lease of 10\.9\.0\.10 renewed/.test(l)),
      10_000,
    );
    expect(await k2.handle({ op: 'release', attachment: attachment() })).toEqual({ ok: true });
    expect(server.leases.size).toBe(0);
    await k2.stop();
  }, 60_000); // real 1 s timers; the limit only guards a hang

  it('a NAK at renewal ends the lease: the link goes down, CHECK fails, DEL still cleans up', async () => {
    const k = keeper();
    await k.handle(allocate());
    (server.o as { nakRenewals?: boolean }).nakRenewals = true;
    await waitFor('the lease to end', () => downs.length === 1, 10_000);
    expect(downs).toEqual(['/run/netns/a eth0']);
    expect(await k.handle({ op: 'check', attachment: attachment() })).toMatchObject({
      ok: false,
      error: { msg: 'the DHCP lease of c1/net/eth0 (10.9.0.10) has ended' },
    });
    expect(await k.handle({ op: 'release', attachment: attachment() })).toEqual({ ok: true });
    expect(records()).toHaveLength(0);
    await k.stop();
  }, 60_000); // real 1 s timers; the limit only guards a hang

  it('a lease whose namespace is gone (or was replaced) is forgotten at its next renewal', async () => {
    const k = keeper();
    await k.handle(allocate());
    netns.set('/run/netns/a', { dev: 4, ino: 999 }); // the path now names another namespace
    await waitFor('the lease to be forgotten', () => records().length === 0, 10_000);
    expect(log.join('\n')).toMatch(/forgotten: its network namespace is gone/);
    await k.stop();
  }, 60_000); // real 1 s timers; the limit only guards a hang

  it('skips unreadable records and leftover temp files at restore', async () => {
    const k = keeper();
    await k.handle(allocate());
    await k.stop();
    writeFileSync(join(dir, 'state', `${'0'.repeat(64)}.json`), '{"version": 1}');
    writeFileSync(join(dir, 'state', '.abc.tmp'), 'half');
    const k2 = keeper();
    expect(k2.restore()).toBe(1);
    expect(log.join('\n')).toMatch(/skipping lease record .*0{64}\.json: invalid lease record/);
    expect(readdirSync(join(dir, 'state')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await k2.stop();
  });
});
