/**
 * The plugins of multus-style secondary networks at every cniVersion, in a sandbox: static (an
 * IPAM result of the version's shape, no interfaces, CHECK against prevResult, DEL with nothing
 * to release, one address per family before 0.3.0), host-device (a veth of the sandbox host
 * stands for the device: result shape, CHECK after ADD and after tampering, the device back in
 * the host after DEL, DEL twice and after the netns is gone, a repeated ADD rejected; GC and
 * STATUS at 1.1.0) and sbr chained after macvlan + static (prevResult passed on, a rule per
 * address, CHECK, DEL twice and after the netns is gone, ADD without prevResult rejected).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rmSync } from 'node:fs';
import { Sandbox, runOk, type RunResult } from '../lib/testutil/sandbox';
import { ALL_VERSIONS, PLUGIN_DIR, hasPlugin, pluginPath } from './harness';

let sb: Sandbox;
beforeAll(async () => {
  sb = await Sandbox.create('multus');
  await sb.addContainer('peers');
  await runOk(['ip', '-n', sb.hostNs, 'link', 'add', 'cm0', 'type', 'veth', 'peer', 'name', 'cm1']);
  await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'cm0', 'up']);
});
afterAll(async () => sb?.destroy());

type Json = Record<string, unknown>;
const family = (v: string): '0.2' | '0.4' | '1.x' => (v < '0.3.0' ? '0.2' : v < '1.0.0' ? '0.4' : '1.x');
const hasCheck = (v: string): boolean => v >= '0.4.0';
const tagOf = (v: string): string => v.replace(/\./g, '');
const isCode = (r: RunResult): boolean => r.code !== 0 && typeof (r.json as { code?: unknown }).code === 'number';

(hasPlugin('static') ? describe.each : describe.skip.each)([...ALL_VERSIONS])('static at %s', (version) => {
  const conf = (addresses: Json[] = [{ address: '10.70.0.5/24', gateway: '10.70.0.1' }]): Json => ({
    cniVersion: version,
    name: 'stconf',
    type: 'static',
    ipam: { type: 'static', addresses, routes: [{ dst: '0.0.0.0/0' }], dns: { nameservers: ['10.70.0.53'] } },
  });
  const call = (command: string, config: Json): Promise<RunResult> =>
    sb.runPlugin(
      pluginPath('static'),
      { command, containerId: 'st', netns: '/run/netns/none', ifName: 'eth0', path: PLUGIN_DIR },
      config,
    );
  let result: Json = {};

  it('ADD prints one IPAM result of the config version: the address, gateway, routes and DNS', async () => {
    const r = await call('ADD', conf());
    expect(r.code).toBe(0);
    result = r.json as Json;
    expect(result['cniVersion']).toBe(version);
    if (family(version) === '0.2') {
      expect(result['ip4']).toEqual({ ip: '10.70.0.5/24', gateway: '10.70.0.1', routes: [{ dst: '0.0.0.0/0' }] });
      return;
    }
    expect(result['interfaces']).toBeUndefined();
    expect(result['ips']).toEqual([
      { ...(family(version) === '0.4' ? { version: '4' } : {}), address: '10.70.0.5/24', gateway: '10.70.0.1' },
    ]);
    expect(result['routes']).toEqual([{ dst: '0.0.0.0/0' }]);
    expect(result['dns']).toEqual({ nameservers: ['10.70.0.53'] });
  });

  it(`two IPv4 addresses are ${family(version) === '0.2' ? 'refused' : 'accepted'}`, async () => {
    const r = await call('ADD', conf([{ address: '10.70.0.5/24' }, { address: '10.70.0.6/24' }]));
    if (family(version) === '0.2') expect(isCode(r)).toBe(true);
    else expect(r.code).toBe(0);
  });

  if (hasCheck(version))
    it('CHECK succeeds against its own result, and fails against another gateway', async () => {
      expect((await call('CHECK', { ...conf(), prevResult: result })).code).toBe(0);
      const other = conf([{ address: '10.70.0.5/24', gateway: '10.70.0.254' }]);
      expect(isCode(await call('CHECK', { ...other, prevResult: result }))).toBe(true);
    });

  it('DEL succeeds, twice', async () => {
    expect((await call('DEL', conf())).code).toBe(0);
    expect((await call('DEL', conf())).code).toBe(0);
  });
});

(hasPlugin('static') ? describe : describe.skip)('static STATUS and GC (1.1.0)', () => {
  const conf = { cniVersion: '1.1.0', name: 'stconf', type: 'static', ipam: { type: 'static' } };
  it.each(['STATUS', 'GC'])('%s succeeds (nothing is allocated)', async (command) => {
    const r = await sb.runPlugin(pluginPath('static'), { command, path: PLUGIN_DIR }, conf);
    expect(r.code).toBe(0);
  });
});

let deviceNo = 0;
/** A veth in the sandbox host standing for a host device; its peer is up in `peers`. */
async function hostDevice(): Promise<string> {
  const name = `hdv${deviceNo++}`;
  await runOk([
    'ip',
    '-n',
    sb.hostNs,
    'link',
    'add',
    name,
    'type',
    'veth',
    'peer',
    'name',
    `${name}p`,
    'netns',
    sb.nsName('peers'),
  ]);
  await runOk(['ip', '-n', sb.nsName('peers'), 'link', 'set', `${name}p`, 'up']);
  return name;
}
const inHost = async (name: string): Promise<boolean> =>
  (await sb.exec('host', ['ip', 'link', 'show', 'dev', name])).code === 0;

const hostDeviceSuite = hasPlugin('host-device') && hasPlugin('static') ? describe.each : describe.skip.each;
hostDeviceSuite([...ALL_VERSIONS])('host-device at %s', (version) => {
  const ctr = `hd${tagOf(version)}`;
  const netns = (): string => `/run/netns/${sb.nsName(ctr)}`;
  let device = '';
  const conf = (): Json => ({
    cniVersion: version,
    name: 'hdconf',
    type: 'host-device',
    device,
    ipam: { type: 'static', addresses: [{ address: '10.71.0.5/24', gateway: '10.71.0.1' }] },
  });
  const call = (command: string, config: Json): Promise<RunResult> =>
    sb.runPlugin(
      pluginPath('host-device'),
      { command, containerId: `id-${ctr}`, netns: netns(), ifName: 'eth0', path: PLUGIN_DIR },
      config,
    );
  let result: Json = {};

  beforeAll(async () => {
    device = await hostDevice();
    await sb.addContainer(ctr);
  });

  it('ADD moves the device in and prints one result in the config version', async () => {
    const r = await call('ADD', conf());
    expect(r.code).toBe(0);
    result = r.json as Json;
    expect(result['cniVersion']).toBe(version);
    if (family(version) === '0.2') expect(result['ip4']).toMatchObject({ ip: '10.71.0.5/24' });
    else expect(Array.isArray(result['interfaces'])).toBe(true);
    expect(await inHost(device)).toBe(false);
    expect((await sb.exec(ctr, ['ip', '-br', 'addr', 'show', 'eth0'])).stdout).toContain('10.71.0.5/24');
  });

  if (family(version) !== '0.2')
    it('every ips[].interface indexes the sandboxed interface, which has a MAC', () => {
      const ifaces = result['interfaces'] as Array<{ name: string; sandbox?: string; mac?: string }>;
      const ips = result['ips'] as Array<{ interface?: number }>;
      for (const ip of ips) expect(ifaces[ip.interface ?? -1]).toMatchObject({ name: 'eth0', sandbox: netns() });
      for (const i of ifaces) expect(i.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    });

  if (hasCheck(version))
    it('CHECK succeeds right after ADD and fails once the address is gone', async () => {
      expect((await call('CHECK', { ...conf(), prevResult: result })).code).toBe(0);
      await sb.exec(ctr, ['ip', 'addr', 'del', '10.71.0.5/24', 'dev', 'eth0']);
      expect(isCode(await call('CHECK', { ...conf(), prevResult: result }))).toBe(true);
    });

  it('a repeated ADD of the same attachment is rejected', async () => {
    expect(isCode(await call('ADD', conf()))).toBe(true);
  });

  it('DEL gives the device back to the host', async () => {
    expect((await call('DEL', conf())).code).toBe(0);
    expect(await inHost(device)).toBe(true);
  });

  it('[spec] a second DEL succeeds', async () => {
    expect((await call('DEL', conf())).code).toBe(0);
  });

  it('[spec] DEL succeeds after the netns is gone', async () => {
    expect((await call('ADD', conf())).code).toBe(0);
    await sb.removeContainer(ctr);
    expect((await call('DEL', conf())).code).toBe(0);
  });
});

(hasPlugin('host-device') ? describe : describe.skip)('host-device STATUS and GC (1.1.0)', () => {
  it('STATUS succeeds', async () => {
    const conf = { cniVersion: '1.1.0', name: 'hdconf', type: 'host-device', device: 'hdv0' };
    const r = await sb.runPlugin(pluginPath('host-device'), { command: 'STATUS', path: PLUGIN_DIR }, conf);
    expect(r.code).toBe(0);
  });

  it('[spec] GC gives back the device of an attachment that is no longer valid', async () => {
    const device = await hostDevice();
    await sb.addContainer('hdgc');
    const conf = { cniVersion: '1.1.0', name: 'hdgc', type: 'host-device', device };
    const attach = { containerId: 'gone', netns: `/run/netns/${sb.nsName('hdgc')}`, ifName: 'eth0', path: PLUGIN_DIR };
    expect((await sb.runPlugin(pluginPath('host-device'), { command: 'ADD', ...attach }, conf)).code).toBe(0);
    const gc = await sb.runPlugin(
      pluginPath('host-device'),
      { command: 'GC', path: PLUGIN_DIR },
      { ...conf, 'cni.dev/valid-attachments': [] },
    );
    expect(gc.code).toBe(0);
    expect(await inHost(device)).toBe(true);
  });
});

const sbrSuite = ['sbr', 'macvlan', 'static'].every(hasPlugin) ? describe.each : describe.skip.each;
sbrSuite([...ALL_VERSIONS])('sbr at %s, chained after macvlan + static', (version) => {
  const tag = tagOf(version);
  const ctr = `sb${tag}`;
  const netns = (): string => `/run/netns/${sb.nsName(ctr)}`;
  const n = 100 + ALL_VERSIONS.indexOf(version);
  const macvlan: Json = {
    cniVersion: version,
    name: 'sbrconf',
    type: 'macvlan',
    master: 'cm0',
    ipam: { type: 'static', addresses: [{ address: `10.72.${n}.5/24`, gateway: `10.72.${n}.1` }] },
  };
  const sbr = (prevResult?: unknown): Json => ({ cniVersion: version, name: 'sbrconf', type: 'sbr', prevResult });
  const call = (plugin: string, command: string, config: Json): Promise<RunResult> =>
    sb.runPlugin(
      pluginPath(plugin),
      { command, containerId: `id-${ctr}`, netns: netns(), ifName: 'net1', path: PLUGIN_DIR },
      config,
    );
  const rules = async (): Promise<string> => (await sb.exec(ctr, ['ip', 'rule', 'show'])).stdout;
  let prev: Json = {};
  let result: Json = {};

  beforeAll(async () => {
    await sb.addContainer(ctr);
    const r = await call('macvlan', 'ADD', macvlan);
    if (r.code !== 0) throw new Error(`macvlan ADD: ${r.stdout}`);
    prev = r.json as Json;
  });

  it('ADD passes prevResult on, in the config version, and adds a rule for the address', async () => {
    const r = await call('sbr', 'ADD', sbr(prev));
    expect(r.code).toBe(0);
    result = r.json as Json;
    const noEmptyDns = (j: Json): Json => {
      const { dns, ...rest } = j;
      return JSON.stringify(dns) === '{}' || dns === undefined ? rest : j;
    };
    expect(noEmptyDns(result)).toEqual(noEmptyDns(prev));
    expect(await rules()).toMatch(new RegExp(`from 10\\.72\\.${n}\\.5 lookup \\d+`));
  });

  if (hasCheck(version))
    it('CHECK succeeds after ADD', async () => {
      expect((await call('sbr', 'CHECK', sbr(result))).code).toBe(0);
    });

  it('ADD without prevResult is rejected', async () => {
    expect(isCode(await call('sbr', 'ADD', sbr()))).toBe(true);
  });

  it('DEL removes the rule, and succeeds twice', async () => {
    expect((await call('sbr', 'DEL', sbr(result))).code).toBe(0);
    expect(await rules()).not.toContain(`10.72.${n}.5`);
    expect((await call('sbr', 'DEL', sbr(result))).code).toBe(0);
  });

  it('[spec] DEL succeeds after the netns is gone', async () => {
    await sb.removeContainer(ctr);
    const r = await call('sbr', 'DEL', sbr(result));
    // The reference locks the namespace path by creating it: an empty file, removed here.
    rmSync(netns(), { force: true });
    expect(r.code).toBe(0);
  });
});
