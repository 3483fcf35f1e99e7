/**
 * Plugins whose link type a kernel may lack — vlan (802.1Q), dummy, and vrf chained after bridge —
 * at every cniVersion, in a sandbox. Where the kernel lacks the type, ADD must fail the way the
 * spec says an error looks (one JSON document with the config's cniVersion, an integer code and a
 * message) and leave nothing behind (no link, no lease, the chained interface untouched); DEL
 * must still succeed, twice. Where the kernel has VRF, vrf passes prevResult on unchanged in the
 * config's version, CHECK passes and DEL is idempotent. (Where it has 802.1Q and dummy links,
 * interfaces.test.ts runs vlan and dummy through the full cycle.)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { kernelHasLinkKind } from '../lib/testutil/kernel';
import { Sandbox, runOk, type RunResult } from '../lib/testutil/sandbox';
import { ALL_VERSIONS, PLUGIN_DIR, errorOf, hasPlugin, oneJsonDocument, pluginPath } from './harness';

let sb: Sandbox;
beforeAll(async () => {
  sb = await Sandbox.create('lnk');
  await runOk(['ip', '-n', sb.hostNs, 'link', 'add', 'lk0', 'type', 'veth', 'peer', 'name', 'lk1']);
  await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'lk0', 'up']);
});
afterAll(async () => sb?.destroy());

const ipam = (subnet: string): Record<string, unknown> => ({
  type: 'host-local',
  subnet,
  dataDir: join(sb.dir, 'ipam'),
});
const leases = (net: string): string[] => {
  const d = join(sb.dir, 'ipam', net);
  return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
};
const links = async (ctr: string): Promise<string[]> =>
  ((await sb.exec(ctr, ['ip', '-j', 'link', 'show'])).json as Array<{ ifname: string }>).map((l) => l.ifname).sort();

interface Lacking {
  readonly plugin: 'vlan' | 'dummy';
  readonly conf: (version: string, tag: string, n: number) => Record<string, unknown>;
}
const LACKING: readonly Lacking[] = [
  {
    plugin: 'vlan',
    conf: (v, tag, n) => ({
      cniVersion: v,
      name: `vk${tag}`,
      type: 'vlan',
      master: 'lk0',
      vlanId: 200 + n,
      ipam: ipam(`10.71.${n}.0/24`),
    }),
  },
  {
    plugin: 'dummy',
    conf: (v, tag, n) => ({ cniVersion: v, name: `dk${tag}`, type: 'dummy', ipam: ipam(`10.72.${n}.0/24`) }),
  },
];

for (const s of LACKING) {
  const lacks = !kernelHasLinkKind(s.plugin);
  const suite = hasPlugin(s.plugin) && hasPlugin('host-local') && lacks ? describe : describe.skip;

  suite.each([...ALL_VERSIONS])(`${s.plugin} at %s on a kernel without its link type`, (version) => {
    const tag = version.replace(/\./g, '');
    const ctr = `${s.plugin.slice(0, 2)}k${tag}`;
    const conf = (): Record<string, unknown> => s.conf(version, tag, Number(tag) % 250);
    const call = (command: string): Promise<RunResult> =>
      sb.runPlugin(
        pluginPath(s.plugin),
        { command, containerId: `id-${ctr}`, netns: `/run/netns/${sb.nsName(ctr)}`, ifName: 'eth0', path: PLUGIN_DIR },
        conf(),
      );

    beforeAll(async () => {
      await sb.addContainer(ctr);
    });

    it('[spec] ADD fails with one JSON error document of the config’s version', async () => {
      const r = await call('ADD');
      expect(r.code).not.toBe(0);
      expect(oneJsonDocument(r.stdout)).toBe(true);
      expect(Number.isInteger(errorOf(r).code)).toBe(true);
      expect(errorOf(r).msg).not.toBe('');
      expect((r.json as { cniVersion?: string }).cniVersion).toBe(version);
    });

    it('and leaves no link and no lease behind', async () => {
      expect(await links(ctr)).toEqual(['lo']);
      expect(leases(String(conf()['name']))).toEqual([]);
    });

    it('DEL succeeds, twice', async () => {
      expect((await call('DEL')).code).toBe(0);
      expect((await call('DEL')).code).toBe(0);
    });
  });
}

const hasVrf = kernelHasLinkKind('vrf');
const vrfSuite = hasPlugin('vrf') && hasPlugin('bridge') && hasPlugin('host-local') ? describe : describe.skip;
const chained = ALL_VERSIONS.filter((v) => v >= '0.3.0');

vrfSuite.each([...chained])('vrf at %s, chained after bridge', (version) => {
  const tag = version.replace(/\./g, '');
  const ctr = `vf${tag}`;
  const netns = (): string => `/run/netns/${sb.nsName(ctr)}`;
  const n = Number(tag) % 250;
  const bridgeConf = (): Record<string, unknown> => ({
    cniVersion: version,
    name: `vb${tag}`,
    type: 'bridge',
    bridge: `vfbr${tag}`,
    ipam: ipam(`10.73.${n}.0/24`),
  });
  const vrfConf = (prevResult: unknown): Record<string, unknown> => ({
    cniVersion: version,
    name: `vb${tag}`,
    type: 'vrf',
    vrfname: 'blue',
    prevResult,
  });
  const call = (plugin: string, command: string, config: unknown): Promise<RunResult> =>
    sb.runPlugin(
      pluginPath(plugin),
      { command, containerId: `id-${ctr}`, netns: netns(), ifName: 'eth0', path: PLUGIN_DIR },
      config,
    );
  let prev: Record<string, unknown> = {};

  beforeAll(async () => {
    await sb.addContainer(ctr);
    const r = await call('bridge', 'ADD', bridgeConf());
    expect(r.code).toBe(0);
    prev = r.json as Record<string, unknown>;
  });

  if (hasVrf) {
    it('ADD passes prevResult on unchanged, in the config’s version', async () => {
      const r = await call('vrf', 'ADD', vrfConf(prev));
      expect(r.code).toBe(0);
      expect(r.json).toEqual(prev);
    });
    if (version >= '0.4.0')
      it('CHECK passes, and fails once the interface left the VRF', async () => {
        expect((await call('vrf', 'CHECK', vrfConf(prev))).code).toBe(0);
        await sb.exec(ctr, ['ip', 'link', 'set', 'eth0', 'nomaster']);
        expect((await call('vrf', 'CHECK', vrfConf(prev))).code).not.toBe(0);
      });
  } else {
    it('[spec] ADD fails with one JSON error document of the config’s version; eth0 untouched', async () => {
      const before = JSON.stringify((await sb.exec(ctr, ['ip', '-j', 'addr', 'show', 'eth0'])).json);
      const r = await call('vrf', 'ADD', vrfConf(prev));
      expect(r.code).not.toBe(0);
      expect(oneJsonDocument(r.stdout)).toBe(true);
      expect(Number.isInteger(errorOf(r).code)).toBe(true);
      expect((r.json as { cniVersion?: string }).cniVersion).toBe(version);
      expect(JSON.stringify((await sb.exec(ctr, ['ip', '-j', 'addr', 'show', 'eth0'])).json)).toBe(before);
      expect(await links(ctr)).toEqual(['eth0', 'lo']);
    });
  }

  it('DEL succeeds, twice; then bridge’s DEL', async () => {
    expect((await call('vrf', 'DEL', vrfConf(prev))).code).toBe(0);
    expect((await call('vrf', 'DEL', vrfConf(prev))).code).toBe(0);
    expect(await links(ctr)).toEqual(['eth0', 'lo']);
    expect((await call('bridge', 'DEL', bridgeConf())).code).toBe(0);
  });
});

describe.each([...ALL_VERSIONS.filter((v) => v < '0.3.0')])('vrf at %s (no chaining yet)', (version) => {
  const suite = hasPlugin('vrf') ? it : it.skip;
  suite('ADD without prevResult is an error document of the config’s version', async () => {
    const r = await sb.runPlugin(
      pluginPath('vrf'),
      { command: 'ADD', containerId: 'id-vf-old', netns: '/run/netns/tscni-t-none', ifName: 'eth0', path: PLUGIN_DIR },
      { cniVersion: version, name: 'vfold', type: 'vrf', vrfname: 'blue' },
    );
    expect(r.code).not.toBe(0);
    expect(oneJsonDocument(r.stdout)).toBe(true);
    expect(Number.isInteger(errorOf(r).code)).toBe(true);
  });
});
