/**
 * The interface plugins that attach one link to a container — macvlan (on a veth standing for
 * the uplink), ptp, tap, and vlan and dummy where the kernel has those link types — at every
 * cniVersion, in a sandbox: result shape of the version's family, `ips[].interface` pointing at
 * the sandboxed interface, CHECK after ADD and after tampering, DEL idempotence (also after the
 * netns is gone), a repeated ADD rejected; STATUS and GC forwarded to IPAM at 1.1.0. (ipvlan
 * shares macvlan's code; it is left out because not every kernel has ipvlan links. On kernels
 * without 802.1Q or dummy links, links.test.ts checks what vlan and dummy do there.)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { kernelHasLinkKind, type ProbedKind } from '../lib/testutil/kernel';
import { Sandbox, runOk, type RunResult } from '../lib/testutil/sandbox';
import { ALL_VERSIONS, PLUGIN_DIR, hasPlugin, pluginPath } from './harness';

let sb: Sandbox;
beforeAll(async () => {
  sb = await Sandbox.create('ifc');
  await runOk(['ip', '-n', sb.hostNs, 'link', 'add', 'cm0', 'type', 'veth', 'peer', 'name', 'cm1']);
  await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'cm0', 'up']);
});
afterAll(async () => sb?.destroy());

const family = (v: string): '0.2' | '0.4' | '1.x' => (v < '0.3.0' ? '0.2' : v < '1.0.0' ? '0.4' : '1.x');
const hasCheck = (v: string): boolean => v >= '0.4.0';

interface Subject {
  readonly plugin: 'macvlan' | 'ptp' | 'tap' | 'vlan' | 'dummy';
  readonly conf: (version: string, tag: string, n: number) => Record<string, unknown>;
  /** A link type the kernel must have for the group to run. */
  readonly kernel?: ProbedKind;
}
const ipam = (subnet: string): Record<string, unknown> => ({
  type: 'host-local',
  subnet,
  dataDir: join(sb.dir, 'ipam'),
});
const SUBJECTS: readonly Subject[] = [
  {
    plugin: 'macvlan',
    conf: (v, tag, n) => ({
      cniVersion: v,
      name: `mv${tag}`,
      type: 'macvlan',
      master: 'cm0',
      ipam: ipam(`10.62.${n}.0/24`),
    }),
  },
  {
    plugin: 'ptp',
    conf: (v, tag, n) => ({
      cniVersion: v,
      name: `pt${tag}`,
      type: 'ptp',
      ipMasq: true,
      ipam: ipam(`10.63.${n}.0/24`),
    }),
  },
  {
    plugin: 'tap',
    conf: (v, tag, n) => ({
      cniVersion: v,
      name: `tp${tag}`,
      type: 'tap',
      multiQueue: true,
      ipam: ipam(`10.64.${n}.0/24`),
    }),
  },
  {
    plugin: 'vlan',
    kernel: 'vlan',
    conf: (v, tag, n) => ({
      cniVersion: v,
      name: `vl${tag}`,
      type: 'vlan',
      master: 'cm0',
      vlanId: 100 + n,
      ipam: ipam(`10.65.${n}.0/24`),
    }),
  },
  {
    plugin: 'dummy',
    kernel: 'dummy',
    conf: (v, tag, n) => ({ cniVersion: v, name: `du${tag}`, type: 'dummy', ipam: ipam(`10.66.${n}.0/24`) }),
  },
];

for (const s of SUBJECTS) {
  const kernelOk = s.kernel === undefined || kernelHasLinkKind(s.kernel);
  const suite = hasPlugin(s.plugin) && hasPlugin('host-local') && kernelOk ? describe : describe.skip;

  suite.each([...ALL_VERSIONS])(`${s.plugin} at %s`, (version) => {
    const tag = version.replace(/\./g, '');
    const ctr = `${s.plugin.slice(0, 2)}${tag}`;
    const netns = (): string => `/run/netns/${sb.nsName(ctr)}`;
    const conf = (): Record<string, unknown> => s.conf(version, tag, Number(tag) % 250);
    const call = (command: string, config: unknown, ns = netns()): Promise<RunResult> =>
      sb.runPlugin(
        pluginPath(s.plugin),
        { command, containerId: `id-${ctr}`, netns: ns, ifName: 'eth0', path: PLUGIN_DIR },
        config,
      );
    let result: Record<string, unknown> = {};

    beforeAll(async () => {
      await sb.addContainer(ctr);
    });

    it('ADD prints exactly one result in the config version', async () => {
      const r = await call('ADD', conf());
      expect(r.code).toBe(0);
      result = r.json as Record<string, unknown>;
      expect(result['cniVersion']).toBe(version);
      if (family(version) === '0.2') expect(result['ip4']).toBeDefined();
      else expect(Array.isArray(result['interfaces'])).toBe(true);
    });

    if (family(version) !== '0.2') {
      it('every ips[].interface indexes the sandboxed interface, which has a MAC', () => {
        const ifaces = result['interfaces'] as Array<{ name: string; sandbox?: string; mac?: string }>;
        const ips = result['ips'] as Array<{ interface?: number; version?: string }>;
        expect(ips.length).toBeGreaterThan(0);
        for (const ip of ips) {
          expect(ifaces[ip.interface ?? -1]).toMatchObject({ name: 'eth0', sandbox: netns() });
          if (family(version) === '0.4') expect(ip.version).toBe('4');
          else expect(ip.version).toBeUndefined();
        }
        for (const i of ifaces) expect(i.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      });
    }

    if (hasCheck(version)) {
      it('CHECK succeeds right after ADD and fails once the interface is gone', async () => {
        expect((await call('CHECK', { ...conf(), prevResult: result })).code).toBe(0);
        await sb.exec(ctr, ['ip', 'link', 'del', 'eth0']);
        const r = await call('CHECK', { ...conf(), prevResult: result });
        expect(r.code).not.toBe(0);
        expect(typeof (r.json as { code: number }).code).toBe('number');
      });
    }

    it('DEL succeeds, twice', async () => {
      expect((await call('DEL', conf())).code).toBe(0);
      expect((await call('DEL', conf())).code).toBe(0);
    });

    it('a repeated ADD of the same attachment is rejected', async () => {
      expect((await call('ADD', conf())).code).toBe(0);
      const again = await call('ADD', conf());
      expect(again.code).not.toBe(0);
      expect(typeof (again.json as { code: number }).code).toBe('number');
    });

    it('DEL succeeds after the netns is gone', async () => {
      await sb.removeContainer(ctr);
      expect((await call('DEL', conf())).code).toBe(0);
    });
  });

  suite(`${s.plugin} STATUS and GC (1.1.0)`, () => {
    const conf = (): Record<string, unknown> => s.conf('1.1.0', 'gc', 251);
    it('STATUS succeeds', async () => {
      const r = await sb.runPlugin(pluginPath(s.plugin), { command: 'STATUS', path: PLUGIN_DIR }, conf());
      expect(r.code).toBe(0);
    });
    it('[spec] GC is forwarded to IPAM and releases stale leases', async () => {
      const ctr = `${s.plugin}gc`;
      await sb.addContainer(ctr);
      const attach = { containerId: 'gone', netns: `/run/netns/${sb.nsName(ctr)}`, ifName: 'eth0', path: PLUGIN_DIR };
      expect((await sb.runPlugin(pluginPath(s.plugin), { command: 'ADD', ...attach }, conf())).code).toBe(0);
      await sb.removeContainer(ctr);
      const gc = await sb.runPlugin(
        pluginPath(s.plugin),
        { command: 'GC', path: PLUGIN_DIR },
        { ...conf(), 'cni.dev/valid-attachments': [] },
      );
      expect(gc.code).toBe(0);
      const check = await sb.runPlugin(
        pluginPath('host-local'),
        { command: 'CHECK', containerId: 'gone', netns: '/run/netns/x', ifName: 'eth0', path: PLUGIN_DIR },
        conf(),
      );
      expect(check.code).not.toBe(0);
    });
  });
}
