/**
 * Black-box tests of bin/host-local (build it first: `make build PLUGINS=host-local TOOLS=`),
 * run inside a Sandbox host netns with the dataDir in sandbox.dir: verbs × versions, errors,
 * concurrency, kill -9 recovery. Differential tests against the reference are in
 * differential.int.test.ts.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, Sandbox, type PluginCall, type RunResult } from '../../lib/testutil/sandbox';
import { flockWaitersOn } from '../../lib/testutil/locks';
import { waitFor } from '../../lib/testutil/wait';

const PLUGIN = join(BIN_DIR, 'host-local');
let sb: Sandbox;
let netns: string;
let seq = 0;

beforeAll(async () => {
  if (!existsSync(PLUGIN)) throw new Error(`${PLUGIN} missing: run make build PLUGINS=host-local TOOLS=`);
  sb = await Sandbox.create('hl');
  netns = await sb.addContainer('c');
});
afterAll(async () => {
  await sb?.destroy();
});

/** A fresh dataDir per test so tests stay independent. */
const dataDir = (): string => {
  const d = join(sb.dir, `data${++seq}`);
  mkdirSync(d);
  return d;
};
const conf = (dir: string, ipam: object, v = '1.1.0', extra: object = {}) => ({
  cniVersion: v,
  name: 'tnet',
  ipam: { type: 'host-local', dataDir: dir, ...ipam },
  ...extra,
});
const call = (command: string, config: object, c: Partial<PluginCall> = {}): Promise<RunResult> =>
  sb.runPlugin(PLUGIN, { command, containerId: 'ctr1', netns, ifName: 'eth0', ...c }, config);
const leases = (dir: string): string[] =>
  readdirSync(join(dir, 'tnet'))
    .filter((n) => /^[0-9.]+$|:/.test(n))
    .sort();
const addresses = (r: RunResult): string[] =>
  ((r.json as { ips?: Array<{ address: string }> }).ips ?? []).map((i) => i.address);
const DUAL = { ranges: [[{ subnet: '10.10.0.0/24' }], [{ subnet: 'fd00:10::/64' }]] };

describe('host-local binary', () => {
  it.each(['0.3.1', '0.4.0', '1.0.0', '1.1.0'])('ADD/CHECK/DEL dual-stack at %s', async (v) => {
    const dir = dataDir();
    const c = conf(dir, { ...DUAL, routes: [{ dst: '0.0.0.0/0' }, { dst: '10.99.0.0/16', gw: '10.10.0.254' }] }, v);
    const add = await call('ADD', c);
    expect(add.code).toBe(0);
    const ips = (add.json as { ips: object[] }).ips;
    const ver = v === '0.3.1' || v === '0.4.0';
    expect(ips).toEqual([
      { ...(ver ? { version: '4' } : {}), address: '10.10.0.2/24', gateway: '10.10.0.1' },
      { ...(ver ? { version: '6' } : {}), address: 'fd00:10::2/64', gateway: 'fd00:10::1' },
    ]);
    expect((add.json as { routes: object[] }).routes).toEqual([
      { dst: '0.0.0.0/0' },
      { dst: '10.99.0.0/16', gw: '10.10.0.254' },
    ]);
    expect(readFileSync(join(dir, 'tnet', '10.10.0.2'), 'utf8')).toBe('ctr1\r\neth0');
    expect(statSync(join(dir, 'tnet', 'fd00:10::2')).mode & 0o777).toBe(0o600);
    if (v !== '0.3.1') expect((await call('CHECK', c)).code).toBe(0);
    expect((await call('DEL', c)).code).toBe(0);
    expect(leases(dir)).toEqual([]);
    expect((await call('DEL', c)).code).toBe(0);
    if (v !== '0.3.1')
      expect((await call('CHECK', c)).json).toMatchObject({
        code: 999,
        msg: 'host-local: Failed to find address added by container ctr1',
      });
  });

  it('legacy 0.1.0/0.2.0 single range with resolvConf', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 10.10.0.53\nsearch example.test\n');
    for (const v of ['0.1.0', '0.2.0']) {
      const add = await call(
        'ADD',
        conf(
          dir,
          {
            subnet: '10.11.0.0/16',
            rangeStart: '10.11.5.10',
            gateway: '10.11.0.254',
            resolvConf: join(dir, 'resolv.conf'),
          },
          v,
        ),
        { containerId: `c${v}` },
      );
      expect(add.json).toEqual({
        cniVersion: v,
        ip4: { ip: v === '0.1.0' ? '10.11.5.10/16' : '10.11.5.11/16', gateway: '10.11.0.254' },
        dns: { nameservers: ['10.10.0.53'], search: ['example.test'] },
      });
    }
  });

  it('GC and STATUS at 1.1.0', async () => {
    const dir = dataDir();
    const c = conf(dir, { ranges: [[{ subnet: '10.12.0.0/29' }]] });
    for (const id of ['a', 'b', 'c']) expect((await call('ADD', c, { containerId: id })).code).toBe(0);
    expect((await call('STATUS', c, { containerId: undefined, ifName: undefined, netns: undefined })).code).toBe(0);
    const gc = await call(
      'GC',
      { ...c, 'cni.dev/valid-attachments': [{ containerID: 'b', ifname: 'eth0' }] },
      { containerId: undefined, ifName: undefined, netns: undefined },
    );
    expect(gc.code).toBe(0);
    expect(leases(dir)).toEqual(['10.12.0.3']);
    for (const id of ['d', 'e', 'f', 'g']) expect((await call('ADD', c, { containerId: id })).code).toBe(0);
    const st = await call('STATUS', c, { containerId: undefined, ifName: undefined, netns: undefined });
    expect(st.json).toMatchObject({ code: 50, msg: 'no IP addresses available in range set: 10.12.0.1-10.12.0.6' });
    expect((await call('GC', { ...c, cniVersion: '1.0.0' })).json).toMatchObject({ code: 1 });
  });

  it.each([
    [
      '0.4.0',
      { ranges: [[{ subnet: '10.13.0.5/24' }]] },
      7,
      'invalid range set 0: Network has host bits set. For a subnet mask of length 24 the network address is 10.13.0.0',
    ],
    [
      '1.0.0',
      { ranges: [[{ subnet: '10.13.0.0/32' }]] },
      7,
      'invalid range set 0: Network 10.13.0.0/32 too small to allocate from',
    ],
    [
      '1.1.0',
      { ranges: [[{ subnet: '10.13.0.0/24', rangeStart: '10.14.0.1' }]] },
      7,
      'invalid range set 0: RangeStart 10.14.0.1 not in network 10.13.0.0/24',
    ],
    [
      '1.1.0',
      { ranges: [[{ subnet: '10.13.0.0/24' }, { subnet: '10.13.0.128/25' }]] },
      7,
      'invalid range set 0: subnets 10.13.0.1-10.13.0.254 and 10.13.0.129-10.13.0.254 overlap',
    ],
    [
      '0.2.0',
      { ranges: [[{ subnet: 'fd00:1::/64' }], [{ subnet: 'fd00:2::/64' }]] },
      7,
      'CNI version 0.2.0 does not support more than 1 address per family',
    ],
  ])('config error at %s: %j', async (v, ipam, code, msg) => {
    const dir = dataDir();
    const r = await call('ADD', conf(dir, ipam, v));
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code, msg });
    expect(existsSync(join(dir, 'tnet'))).toBe(false);
  });

  it('requested-address errors leave nothing behind', async () => {
    const dir = dataDir();
    const c = conf(dir, DUAL);
    expect((await call('ADD', c, { args: 'IP=10.10.0.1' })).json).toMatchObject({
      msg: "failed to allocate for range 0: requested ip 10.10.0.1 is subnet's gateway",
    });
    expect((await call('ADD', conf(dir, DUAL, '1.1.0', { runtimeConfig: { ips: ['10.77.0.1'] } }))).json).toMatchObject(
      { msg: 'failed to allocate all requested IPs: 10.77.0.1' },
    );
    expect(leases(dir)).toEqual([]);
    // the rolled-back ADD still moved the round-robin cursor, as the reference's does
    expect(
      addresses(await call('ADD', conf(dir, DUAL, '1.1.0', { args: { cni: { ips: ['fd00:10::abc'] } } }))),
    ).toEqual(['10.10.0.3/24', 'fd00:10::abc/64']);
  });

  it('refuses a dataDir that is a file', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'f'), '');
    expect((await call('ADD', conf(join(dir, 'f'), DUAL))).json).toMatchObject({ code: 5 });
  });

  it('100 concurrent ADDs on a /24 get 100 distinct addresses', async () => {
    const dir = dataDir();
    const c = conf(dir, { ranges: [[{ subnet: '10.20.0.0/24' }]] });
    const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => call('ADD', c, { containerId: `p${i}` })));
    expect(rs.filter((r) => r.code !== 0).map((r) => r.stdout)).toEqual([]);
    const got = rs.map((r) => addresses(r)[0]);
    expect(new Set(got).size).toBe(100);
    expect(leases(dir).length).toBe(100);
  });

  it('50 DELs racing 50 ADDs leave exactly the new leases', async () => {
    const dir = dataDir();
    const c = conf(dir, DUAL);
    for (let i = 0; i < 50; i += 10)
      await Promise.all(Array.from({ length: 10 }, (_, j) => call('ADD', c, { containerId: `old${i + j}` })));
    expect(leases(dir).length).toBe(100);
    const rs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => [
        call('DEL', c, { containerId: `old${i}` }),
        call('ADD', c, { containerId: `new${i}` }),
      ]).flat(),
    );
    expect(rs.filter((r) => r.code !== 0).map((r) => r.stdout)).toEqual([]);
    const owners = leases(dir).map((ip) => readFileSync(join(dir, 'tnet', ip), 'utf8').split('\r\n')[0] as string);
    expect(owners.length).toBe(100);
    expect(owners.every((o) => o.startsWith('new'))).toBe(true);
    expect(new Set(owners).size).toBe(50);
  });

  it('recovers from ADDs killed with -9 at random moments', async () => {
    const dir = dataDir();
    const c = JSON.stringify(conf(dir, DUAL));
    for (let i = 0; i < 16; i++) {
      const child = spawn('ip', ['netns', 'exec', sb.hostNs, PLUGIN], {
        env: {
          PATH: process.env['PATH'],
          CNI_COMMAND: 'ADD',
          CNI_CONTAINERID: `k${i}`,
          CNI_NETNS: netns,
          CNI_IFNAME: 'eth0',
          CNI_PATH: BIN_DIR,
        },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      const closed = new Promise((r) => child.on('close', r));
      child.stdin.on('error', () => undefined);
      child.stdin.end(c);
      // node start-up takes ~60 ms; spread the kills over it and the store work after it
      await new Promise((r) => setTimeout(r, 30 + ((i * 53) % 170)));
      child.kill('SIGKILL');
      await closed;
      if (i % 2 === 0) {
        expect((await call('DEL', conf(dir, DUAL), { containerId: `k${i}` })).code).toBe(0);
        expect(leases(dir).filter((ip) => readFileSync(join(dir, 'tnet', ip), 'utf8').startsWith(`k${i}\r`))).toEqual(
          [],
        );
      }
    }
    const gc = await call('GC', { ...conf(dir, DUAL), 'cni.dev/valid-attachments': [] });
    expect(gc.code).toBe(0);
    expect(leases(dir)).toEqual([]);
    expect(readdirSync(join(dir, 'tnet', '.tscni')).filter((n) => n.includes('tmp'))).toEqual([]);
    expect((await call('ADD', conf(dir, DUAL))).code).toBe(0);
  });

  it('a holder killed while it holds the lock costs the next caller nothing', async () => {
    const dir = dataDir();
    const c = conf(dir, DUAL);
    expect((await call('ADD', c)).code).toBe(0);
    // A process that takes the store's flock and is then killed with SIGKILL.
    const holder = spawn('flock', ['-o', join(dir, 'tnet', 'lock'), 'sleep', '60'], { stdio: 'ignore' });
    await waitFor('the holder to take the lock', () =>
      execFileSync('lslocks', ['-n', '-o', 'PATH'])
        .toString()
        .includes(join(dir, 'tnet', 'lock')),
    );
    const second = call('ADD', c, { containerId: 'ctr2' });
    await waitFor('the ADD to queue on the lock', () => flockWaitersOn(join(dir, 'tnet', 'lock')) > 0); // the ADD waits for the holder
    holder.kill('SIGKILL');
    expect((await second).code).toBe(0);
  });

  it('excludes a reference host-local holding the same store lock', async () => {
    const dir = dataDir();
    const c = conf(dir, DUAL);
    const lock = join(dir, 'tnet', 'lock');
    expect((await call('ADD', c)).code).toBe(0);
    // The holder keeps the lock until its stdin closes (cat exits), not for a fixed time.
    const holder = spawn('flock', ['-o', lock, 'cat'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const holderExited = new Promise((r) => holder.once('exit', r));
    await waitFor('the holder to take the lock', () =>
      execFileSync('lslocks', ['-n', '-o', 'PATH']).toString().includes(lock),
    );
    let finished = false;
    const add = call('ADD', c, { containerId: 'ctr3' }).finally(() => (finished = true));
    await waitFor('the ADD to queue on the lock', () => flockWaitersOn(lock) > 0);
    expect(finished).toBe(false);
    holder.stdin.end();
    await holderExited;
    expect((await add).code).toBe(0);
  });
});
