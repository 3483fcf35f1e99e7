/**
 * loopback and tuning at every cniVersion, in a sandbox: loopback's result in the shape of the
 * config's version, lo up, CHECK and repeated DEL; tuning chained after a previous result of that
 * version (passed through, MAC updated), CHECK and repeated DEL.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { Sandbox, type RunResult } from '../lib/testutil/sandbox';
import { ALL_VERSIONS, PLUGIN_DIR, hasPlugin, pluginPath } from './harness';

let sb: Sandbox;
beforeAll(async () => {
  sb = await Sandbox.create('meta');
});
afterAll(async () => sb?.destroy());

const family = (v: string): '0.2' | '0.4' | '1.x' => (v < '0.3.0' ? '0.2' : v < '1.0.0' ? '0.4' : '1.x');
const hasCheck = (v: string): boolean => v >= '0.4.0';

(hasPlugin('loopback') ? describe.each : describe.skip.each)([...ALL_VERSIONS])('loopback at %s', (version) => {
  const ctr = `lo${version.replace(/\./g, '')}`;
  const netns = (): string => `/run/netns/${sb.nsName(ctr)}`;
  const conf = { cniVersion: version, name: 'cni-loopback', type: 'loopback' };
  const call = (command: string, config: unknown = conf): Promise<RunResult> =>
    sb.runPlugin(
      pluginPath('loopback'),
      { command, containerId: ctr, netns: netns(), ifName: 'lo', path: PLUGIN_DIR },
      config,
    );
  let result: Record<string, unknown> = {};

  beforeAll(async () => {
    await sb.addContainer(ctr, { loopbackUp: false });
  });

  it('[spec] ADD prints one result of the config version, describing lo', async () => {
    const r = await call('ADD');
    expect(r.code).toBe(0);
    result = r.json as Record<string, unknown>;
    expect(result['cniVersion']).toBe(version);
    if (family(version) === '0.2') {
      expect(result['ip4']).toEqual({ ip: '127.0.0.1/8' });
      return;
    }
    expect(result['interfaces']).toEqual([{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: netns() }]);
    const ips = result['ips'] as Array<{ version?: string; interface?: number; address: string }>;
    expect(ips[0]).toMatchObject({ interface: 0, address: '127.0.0.1/8' });
    for (const ip of ips)
      expect(ip.version).toBe(family(version) === '0.4' ? (ip.address.includes(':') ? '6' : '4') : undefined);
  });

  it('lo is up in the container', async () => {
    expect((await sb.exec(ctr, ['ip', '-br', 'link', 'show', 'lo'])).stdout).toMatch(/UNKNOWN|UP/);
  });

  if (hasCheck(version))
    it('CHECK succeeds after ADD', async () => {
      expect((await call('CHECK', { ...conf, prevResult: result })).code).toBe(0);
    });

  it('DEL succeeds twice, and without the namespace', async () => {
    expect((await call('DEL')).code).toBe(0);
    expect((await call('DEL')).code).toBe(0);
    expect(
      (
        await sb.runPlugin(
          pluginPath('loopback'),
          { command: 'DEL', containerId: ctr, ifName: 'lo', path: PLUGIN_DIR },
          conf,
        )
      ).code,
    ).toBe(0);
  });
});

(hasPlugin('tuning') ? describe.each : describe.skip.each)([...ALL_VERSIONS])('tuning at %s', (version) => {
  const tag = version.replace(/\./g, '');
  const ctr = `tu${tag}`;
  const netns = (): string => `/run/netns/${sb.nsName(ctr)}`;
  const prev = (): Record<string, unknown> =>
    family(version) === '0.2'
      ? { cniVersion: version, ip4: { ip: `10.62.${tag.length}.2/24` }, dns: {} }
      : {
          cniVersion: version,
          interfaces: [{ name: 'eth0', mac: '0a:58:00:00:00:01', sandbox: netns() }],
          ips: [{ ...(family(version) === '0.4' ? { version: '4' } : {}), interface: 0, address: '10.62.0.2/24' }],
          ...(family(version) === '0.4' ? { dns: {} } : {}),
        };
  const conf = (): Record<string, unknown> => ({
    cniVersion: version,
    name: 'tunconf',
    type: 'tuning',
    dataDir: join(sb.dir, 'tuning'),
    mtu: 1400,
    mac: '0a:58:00:00:00:02',
    prevResult: prev(),
  });
  const call = (command: string): Promise<RunResult> =>
    sb.runPlugin(
      pluginPath('tuning'),
      { command, containerId: ctr, netns: netns(), ifName: 'eth0', path: PLUGIN_DIR },
      conf(),
    );

  beforeAll(async () => {
    await sb.addContainer(ctr);
    // An interface for tuning to work on (a veth pair inside the container: no dummy module needed).
    const made = await sb.exec(ctr, [
      'ip',
      'link',
      'add',
      'eth0',
      'address',
      '0a:58:00:00:00:01',
      'type',
      'veth',
      'peer',
      'name',
      'eth0p',
    ]);
    if (made.code !== 0) throw new Error(made.stderr);
  });

  it('ADD passes the previous result on in the config version, with the new MAC', async () => {
    const r = await call('ADD');
    expect(r.code).toBe(0);
    const expected = prev();
    if (family(version) !== '0.2') (expected['interfaces'] as Array<{ mac: string }>)[0]!.mac = '0a:58:00:00:00:02';
    const out = r.json as Record<string, unknown>;
    // An empty "dns" in a 1.x result says nothing (the reference v1.1.1 always prints one).
    if (family(version) === '1.x' && JSON.stringify(out['dns']) === '{}') delete out['dns'];
    expect(out).toEqual(expected);
    expect((await sb.exec(ctr, ['cat', '/sys/class/net/eth0/mtu'])).stdout.trim()).toBe('1400');
  });

  if (hasCheck(version))
    it('CHECK succeeds after ADD', async () => {
      expect((await call('CHECK')).code).toBe(0);
    });

  it('DEL restores the interface and succeeds twice', async () => {
    expect((await call('DEL')).code).toBe(0);
    expect((await sb.exec(ctr, ['cat', '/sys/class/net/eth0/mtu'])).stdout.trim()).toBe('1500');
    expect((await sb.exec(ctr, ['cat', '/sys/class/net/eth0/address'])).stdout.trim()).toBe('0a:58:00:00:00:01');
    expect((await call('DEL')).code).toBe(0);
  });
});
