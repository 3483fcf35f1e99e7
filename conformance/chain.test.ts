/**
 * bridge → portmap chains at every cniVersion, in a sandbox: result shape and interface indices,
 * prevResult passed through, CHECK after tampering, DEL idempotence, GC and STATUS.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { Sandbox, type RunResult } from '../lib/testutil/sandbox';
import { ALL_VERSIONS, PLUGIN_DIR, hasPlugin, pluginPath } from './harness';

const suite = hasPlugin('bridge') && hasPlugin('portmap') && hasPlugin('host-local') ? describe : describe.skip;
let sb: Sandbox;
beforeAll(async () => {
  sb = await Sandbox.create('conf');
});
afterAll(async () => sb?.destroy());

const family = (v: string): '0.2' | '0.4' | '1.x' => (v < '0.3.0' ? '0.2' : v < '1.0.0' ? '0.4' : '1.x');
const hasCheck = (v: string): boolean => v >= '0.4.0';

suite.each([...ALL_VERSIONS])('bridge + portmap at %s', (version) => {
  const tag = version.replace(/\./g, '');
  const ctr = `c${tag}`;
  const netns = (): string => `/run/netns/${sb.nsName(ctr)}`;
  const bridgeConf = (): Record<string, unknown> => ({
    cniVersion: version,
    name: `conf${tag}`,
    type: 'bridge',
    bridge: `cbr${tag}`,
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', subnet: `10.60.${Number(tag) % 250}.0/24`, dataDir: join(sb.dir, 'ipam') },
  });
  const call = (plugin: string, command: string, conf: unknown): Promise<RunResult> =>
    sb.runPlugin(
      pluginPath(plugin),
      { command, containerId: `id-${ctr}`, netns: netns(), ifName: 'eth0', path: PLUGIN_DIR },
      conf,
    );
  let addResult: Record<string, unknown> = {};

  beforeAll(async () => {
    await sb.addContainer(ctr);
  });

  it('bridge ADD prints exactly one result in the config version', async () => {
    const r = await call('bridge', 'ADD', bridgeConf());
    expect(r.code).toBe(0);
    addResult = r.json as Record<string, unknown>;
    expect(addResult['cniVersion']).toBe(version);
    if (family(version) === '0.2') expect(addResult['ip4']).toBeDefined();
    else expect(Array.isArray(addResult['interfaces'])).toBe(true);
  });

  if (family(version) !== '0.2') {
    it('every ips[].interface indexes an interface; the container one carries the sandbox', () => {
      const ifaces = addResult['interfaces'] as Array<{ name: string; sandbox?: string; mac?: string }>;
      const ips = addResult['ips'] as Array<{ interface?: number; version?: string }>;
      for (const ip of ips) {
        expect(ip.interface).toBeDefined();
        expect(ip.interface!).toBeLessThan(ifaces.length);
        expect(ifaces[ip.interface!]).toMatchObject({ name: 'eth0', sandbox: netns() });
        if (family(version) === '0.4') expect(ip.version).toBe('4');
        else expect(ip.version).toBeUndefined();
      }
      for (const i of ifaces) if (i.sandbox) expect(i.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    });

    it('portmap passes prevResult through unchanged', async () => {
      const r = await call('portmap', 'ADD', {
        cniVersion: version,
        name: `conf${tag}`,
        type: 'portmap',
        runtimeConfig: { portMappings: [{ hostPort: 30000 + Number(tag), containerPort: 80, protocol: 'tcp' }] },
        prevResult: addResult,
      });
      expect(r.code).toBe(0);
      expect(r.json).toEqual(addResult);
    });
  }

  if (hasCheck(version)) {
    it('CHECK succeeds right after ADD', async () => {
      expect((await call('bridge', 'CHECK', { ...bridgeConf(), prevResult: addResult })).code).toBe(0);
    });
    it('CHECK fails after the container interface was removed', async () => {
      await sb.exec(ctr, ['ip', 'link', 'del', 'eth0']);
      const r = await call('bridge', 'CHECK', { ...bridgeConf(), prevResult: addResult });
      expect(r.code).not.toBe(0);
      expect(typeof (r.json as { code: number }).code).toBe('number');
    });
  }

  it('DEL succeeds and a second DEL succeeds too', async () => {
    const pm = { cniVersion: version, name: `conf${tag}`, type: 'portmap' };
    expect((await call('portmap', 'DEL', pm)).code).toBe(0);
    expect((await call('bridge', 'DEL', bridgeConf())).code).toBe(0);
    expect((await call('bridge', 'DEL', bridgeConf())).code).toBe(0);
    expect((await call('portmap', 'DEL', pm)).code).toBe(0);
  });

  it('a repeated ADD of the same attachment is rejected', async () => {
    expect((await call('bridge', 'ADD', bridgeConf())).code).toBe(0);
    const again = await call('bridge', 'ADD', bridgeConf());
    expect(again.code).not.toBe(0);
    await call('bridge', 'DEL', bridgeConf());
  });
});

suite('bridge GC and STATUS (1.1.0)', () => {
  const conf = (): Record<string, unknown> => ({
    cniVersion: '1.1.0',
    name: 'confgc',
    type: 'bridge',
    bridge: 'cbrgc',
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', subnet: '10.61.0.0/24', dataDir: join(sb.dir, 'ipam') },
  });
  it('STATUS succeeds', async () => {
    expect((await sb.runPlugin(pluginPath('bridge'), { command: 'STATUS', path: PLUGIN_DIR }, conf())).code).toBe(0);
  });
  it('[spec] GC is forwarded to IPAM and releases stale leases', async () => {
    await sb.addContainer('gc1');
    const add = await sb.runPlugin(
      pluginPath('bridge'),
      {
        command: 'ADD',
        containerId: 'gone',
        netns: `/run/netns/${sb.nsName('gc1')}`,
        ifName: 'eth0',
        path: PLUGIN_DIR,
      },
      conf(),
    );
    expect(add.code).toBe(0);
    await sb.removeContainer('gc1');
    const gc = await sb.runPlugin(
      pluginPath('bridge'),
      { command: 'GC', path: PLUGIN_DIR },
      { ...conf(), 'cni.dev/valid-attachments': [] },
    );
    expect(gc.code).toBe(0);
    const again = await sb.runPlugin(
      pluginPath('host-local'),
      { command: 'CHECK', containerId: 'gone', netns: '/run/netns/x', ifName: 'eth0', path: PLUGIN_DIR },
      conf(),
    );
    expect(again.code).not.toBe(0);
    expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).not.toContain('id: \\"gone\\"');
  });
});
