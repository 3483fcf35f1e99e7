/**
 * The protocol edge given hostile input (issue 20 rows 4, 8 and 11), the shipped executable and
 * the reference 1.1.1 side by side in one sandbox: configs nested deeper than Go allows, JSON
 * that Go decodes differently, subnets at address 0, and plugins told to delegate to themselves.
 * Each call must come back as one CNI error with the right code and leave nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../testutil/sandbox';
import { addUnderlay } from '../testutil/underlay';
import { requireProgram } from '../testutil/programs';

const PLUGINS = [
  'bridge',
  'host-local',
  'dhcp',
  'static',
  'portmap',
  'firewall',
  'loopback',
  'tuning',
  'macvlan',
  'ipvlan',
  'host-device',
  'sbr',
  'ptp',
];

let sb: Sandbox;
let ctr: string;
beforeAll(async () => {
  sb = await Sandbox.create('edge');
  ctr = await sb.addContainer('c');
  await addUnderlay(sb, { master: 'phys0', outside: 'out', subnet: '192.168.61' });
});
afterAll(async () => sb.destroy());

const call = (dir: string, type: string, command: string, config: unknown, env: Record<string, string> = {}) =>
  sb.runPlugin(join(dir, type), { command, containerId: 'ctr-e', netns: ctr, ifName: 'eth0', path: dir, env }, config);

const codeOf = (r: RunResult): number | undefined => (r.json as { code?: number } | undefined)?.code;
const links = async (where: string): Promise<string[]> =>
  (await sb.exec(where, ['ip', '-o', 'link', 'show'])).stdout
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter((n) => n !== '' && n !== 'lo');

describe('row 8: nesting deeper than Go’s 10,000 levels', () => {
  const deep = (depth: number, type: string): string =>
    `{"cniVersion":"1.0.0","name":"deep","type":"${type}","sysctl":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
  it.each(PLUGINS)('%s: code 6 with Go’s message, as the reference', async (type) => {
    const ours = await call(BIN_DIR, type, 'ADD', deep(100_000, type));
    expect(ours.json).toMatchObject({
      code: 6,
      msg: 'error unmarshall network config',
      details: "invalid character '[' exceeded max depth",
    });
    const theirs = await call(REFERENCE_DIR, type, 'ADD', deep(100_000, type));
    expect(codeOf(theirs)).toBe(6);
    expect((theirs.json as { msg: string }).msg).toContain('exceeded max depth');
  });
});

describe('row 11: JSON decoded as Go decodes it', () => {
  const hl = (
    extra: Record<string, unknown>,
    subnet = '10.61.0.0/24',
    store = 'ipam-dec',
  ): Record<string, unknown> => ({
    cniVersion: '1.0.0',
    name: 'dec',
    type: 'host-local',
    ipam: { type: 'host-local', subnet, dataDir: join(sb.dir, store) },
    ...extra,
  });
  // Each implementation with a store of its own (a config that names one is given as a function).
  const both = async (type: string, config: unknown): Promise<[RunResult, RunResult]> => {
    const of = (store: string): unknown =>
      typeof config === 'function' ? (config as (s: string) => unknown)(store) : config;
    return [await call(BIN_DIR, type, 'ADD', of('ours')), await call(REFERENCE_DIR, type, 'ADD', of('theirs'))];
  };

  it('a config of null, and a null name: code 7 "missing network name", as the reference', async () => {
    for (const config of ['null', JSON.stringify({ cniVersion: '1.0.0', name: null })]) {
      const [ours, theirs] = await both('host-local', config);
      expect(ours.json).toMatchObject({ code: 7, msg: 'missing network name' });
      expect(theirs.json).toMatchObject({ code: 7, msg: 'missing network name' });
    }
  });

  it('a null cniVersion is 0.1.0, as the reference', async () => {
    const config = (store: string): unknown => hl({ cniVersion: null }, undefined, store);
    const [ours, theirs] = await both('host-local', config);
    expect(ours.code).toBe(0);
    expect((ours.json as { cniVersion: string }).cniVersion).toBe('0.1.0');
    expect((theirs.json as { cniVersion: string }).cniVersion).toBe('0.1.0');
    await call(BIN_DIR, 'host-local', 'DEL', config('ours'));
    await call(REFERENCE_DIR, 'host-local', 'DEL', config('theirs'));
  });

  it('a port written 1e3 or 80.0 is not an int: refused (code 7; the reference: 999)', async () => {
    const prev = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', sandbox: ctr }],
      ips: [{ address: '10.1.1.2/24' }],
    };
    for (const [hostPort, containerPort] of [
      ['1e3', '80'],
      ['8080', '80.0'],
    ]) {
      const config = `{"cniVersion":"1.0.0","name":"pm","type":"portmap","prevResult":${JSON.stringify(prev)},"runtimeConfig":{"portMappings":[{"hostPort":${hostPort},"containerPort":${containerPort},"protocol":"tcp"}]}}`;
      const [ours, theirs] = await both('portmap', config);
      expect(codeOf(ours)).toBe(7);
      expect(JSON.stringify(ours.json)).toMatch(/got number (1e3|80\.0)/);
      expect(codeOf(theirs)).toBe(999);
    }
  });

  it('a subnet at address 0 is refused (code 7) instead of handing out 0.0.0.2/0; the reference fails garbled', async () => {
    for (const subnet of ['0.0.0.0/0', '0.0.0.0/8', '::/0', '::/1']) {
      const [ours, theirs] = await both('host-local', (store: string) => hl({}, subnet, store));
      expect(ours.json).toMatchObject({ code: 7 });
      expect(JSON.stringify(ours.json)).toContain('contains the unspecified address');
      expect(theirs.code).not.toBe(0);
    }
  });

  it('an IPAM plugin that cannot be found fails once, with no rollback of a delegate that never ran', async () => {
    const r = await call(BIN_DIR, 'bridge', 'ADD', {
      cniVersion: '1.0.0',
      name: 'noipam',
      type: 'bridge',
      bridge: 'edgebr0',
      ipam: { type: 'no-such-ipam' },
    });
    expect(r.json).toMatchObject({ code: 999 });
    expect((r.json as { msg: string }).msg).toContain('failed to find plugin "no-such-ipam"');
    expect(r.stderr).not.toContain('rollback');
  });
});

describe('row 5: files a config names are read bounded', () => {
  const conf = (resolvConf: string, store: string): Record<string, unknown> => ({
    cniVersion: '1.0.0',
    name: 'rc',
    type: 'host-local',
    ipam: { type: 'host-local', subnet: '10.64.0.0/24', resolvConf, dataDir: join(sb.dir, store) },
  });
  it('resolvConf naming /dev/zero, a FIFO or a 2 MiB file: an error at once, nothing allocated', async () => {
    const fifo = join(sb.dir, 'resolv-fifo');
    execFileSync(requireProgram('mkfifo'), [fifo]);
    const big = join(sb.dir, 'resolv-big');
    writeFileSync(big, `# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    for (const path of ['/dev/zero', fifo, big]) {
      const r = await call(BIN_DIR, 'host-local', 'ADD', conf(path, 'rc-ours'));
      expect(r.json).toMatchObject({ code: 999 });
      expect((r.json as { msg: string }).msg).toMatch(new RegExp(`open ${path}: (not a regular file|larger than)`));
      const store = join(sb.dir, 'rc-ours', 'rc');
      expect(existsSync(store) ? readdirSync(store).filter((f) => /^\d/.test(f)) : []).toEqual([]);
    }
    // The reference fails on /dev/zero too, once its 64 KiB line buffer is full.
    const theirs = await call(REFERENCE_DIR, 'host-local', 'ADD', conf('/dev/zero', 'rc-theirs'));
    expect((theirs.json as { msg: string }).msg).toContain('token too long');
  });
});

describe('row 4: a plugin told to delegate to itself', () => {
  const conf = (type: string): Record<string, unknown> => ({
    cniVersion: '1.0.0',
    name: 'selfnet',
    type,
    bridge: 'selfbr0',
    master: 'phys0',
    device: 'phys0',
    dataDir: join(sb.dir, 'hd-self'),
    ipam: { type, subnet: '10.62.0.0/24', dataDir: join(sb.dir, 'ipam-self') },
  });
  it.each(['bridge', 'ptp', 'macvlan', 'ipvlan', 'host-device'])(
    '%s: code 7 at once, nothing created',
    async (type) => {
      const before = await links('host');
      const r = await call(BIN_DIR, type, 'ADD', conf(type));
      expect(r.json).toMatchObject({ code: 7, msg: `plugin "${type}" cannot delegate to itself` });
      expect(await links('c')).toEqual([]);
      expect((await links('host')).filter((l) => !before.includes(l) && l !== 'selfbr0')).toEqual([]);
      const store = join(sb.dir, 'ipam-self', 'selfnet');
      expect(existsSync(store) ? readdirSync(store).filter((f) => /^\d/.test(f)) : []).toEqual([]);
      // DEL of such a config fails the same way instead of recursing.
      expect(codeOf(await call(BIN_DIR, type, 'DEL', conf(type)))).toBe(7);
    },
  );

  it('host-device with an interface plugin (ptp) as IPAM: code 7, and the device is back on the host (the fuzzer found ptp DEL deleting it)', async () => {
    await sb.exec('host', ['ip', 'link', 'add', 'selfdev0', 'type', 'veth', 'peer', 'name', 'selfdev0p']);
    const config = { ...conf('host-device'), device: 'selfdev0', ipam: { type: 'ptp', subnet: '10.62.0.0/24' } };
    const r = await call(BIN_DIR, 'host-device', 'ADD', config);
    expect(r.json).toMatchObject({ code: 7, msg: 'plugin "ptp" is not an IPAM plugin' });
    expect(await links('c')).toEqual([]);
    expect(await links('host')).toEqual(expect.arrayContaining(['selfdev0', 'selfdev0p']));
    expect(codeOf(await call(BIN_DIR, 'host-device', 'DEL', config))).toBe(7);
    expect(await links('host')).toEqual(expect.arrayContaining(['selfdev0', 'selfdev0p']));
    await sb.exec('host', ['ip', 'link', 'del', 'selfdev0']);
  });

  it('a chain of delegations stops at the limit, also across processes (TSCNI_DELEGATION_DEPTH)', async () => {
    const config = {
      ...conf('bridge'),
      ipam: { type: 'host-local', subnet: '10.62.0.0/24', dataDir: join(sb.dir, 'd') },
    };
    const r = await call(BIN_DIR, 'bridge', 'ADD', config, { TSCNI_DELEGATION_DEPTH: '4' });
    expect(r.json).toMatchObject({ code: 7, msg: 'delegation to "host-local" exceeds 4 levels' });
    expect(await links('c')).toEqual([]);
  });
});
