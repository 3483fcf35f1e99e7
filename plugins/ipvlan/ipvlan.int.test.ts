/**
 * ipvlan against the real kernel, in a sandbox with a veth underlay. Where the kernel has ipvlan
 * links: traffic in l2 and l3 mode, CHECK, DEL, chaining and the reference plugin alongside.
 * Where it has not (this project's CI kernel): the clear CNI error, nothing left behind, and the
 * verbs that need no new link (DEL, STATUS, GC) still working. The exact netlink requests are
 * pinned by the unit tests (lib/sublink/create.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { kernelHasLinkKind, skipNote } from '../../lib/testutil/kernel';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../../lib/testutil/sandbox';
import { pings } from '../../lib/testutil/traffic';
import { addUnderlay } from '../../lib/testutil/underlay';

const IPVLAN = join(BIN_DIR, 'ipvlan');
const OUTSIDE = '192.168.62.100';
const hasIpvlan = kernelHasLinkKind('ipvlan');
const withIpvlan = hasIpvlan ? it : it.skip;
const withoutIpvlan = hasIpvlan ? it.skip : it;
let sb: Sandbox;
let cniPath = '';

function conf(extra: Record<string, unknown> = {}, ipam: Record<string, unknown> | null = {}): Record<string, unknown> {
  const c: Record<string, unknown> = { cniVersion: '1.0.0', name: 'ipvnet', type: 'ipvlan', master: 'phys0', ...extra };
  if (ipam !== null)
    c['ipam'] = {
      type: 'host-local',
      subnet: '192.168.62.0/24',
      rangeStart: '192.168.62.10',
      rangeEnd: '192.168.62.60',
      dataDir: join(sb.dir, 'ipam'),
      ...ipam,
    };
  return c;
}

function plugin(
  command: string,
  container: string,
  config: unknown,
  o: { exe?: string; path?: string; id?: string; netns?: string } = {},
): Promise<RunResult> {
  return sb.runPlugin(
    o.exe ?? IPVLAN,
    {
      command,
      containerId: o.id ?? `ctr-${container}`,
      netns: o.netns ?? `/run/netns/${sb.nsName(container)}`,
      ifName: 'eth0',
      path: o.path ?? cniPath,
    },
    config,
  );
}
const errorOf = (r: RunResult): { code: number; msg: string; details?: string } =>
  r.json as { code: number; msg: string; details?: string };
const leases = (net = 'ipvnet', dir = 'ipam'): string[] => {
  const d = join(sb.dir, dir, net);
  return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$|:/.test(f)) : [];
};
const hasEth0 = async (ctr: string): Promise<boolean> =>
  (await sb.exec(ctr, ['ip', 'link', 'show', 'eth0'])).code === 0;
const ping = (from: string, to: string): Promise<boolean> => pings(sb, from, to, 1);

beforeAll(async () => {
  sb = await Sandbox.create('ipv');
  await addUnderlay(sb, { master: 'phys0', outside: 'out', subnet: '192.168.62' });
  cniPath = join(sb.dir, 'cni-bin');
  mkdirSync(cniPath);
  symlinkSync(join(BIN_DIR, 'host-local'), join(cniPath, 'host-local'));
});
afterAll(async () => sb?.destroy());

describe('ipvlan on a kernel without ipvlan links', () => {
  withoutIpvlan('ADD is a clear CNI error and leaves no link and no lease', async () => {
    await sb.addContainer('n1');
    for (const mode of ['l2', 'l3', 'l3s']) {
      const r = await plugin('ADD', 'n1', conf({ mode }));
      expect(errorOf(r)).toMatchObject({
        code: 999,
        msg: 'failed to create ipvlan: this kernel has no ipvlan links (CONFIG_IPVLAN)',
      });
      expect(errorOf(r).details).toMatch(/EOPNOTSUPP/);
      expect(leases()).toEqual([]);
      expect(await hasEth0('n1')).toBe(false);
    }
  });

  withoutIpvlan('the reference fails the same way ("operation not supported") and leaves no lease either', async () => {
    const refPath = join(sb.dir, 'ref-bin');
    mkdirSync(refPath);
    symlinkSync(join(REFERENCE_DIR, 'host-local'), join(refPath, 'host-local'));
    const r = await plugin('ADD', 'n1', conf({}, { dataDir: join(sb.dir, 'ipam-ref') }), {
      exe: join(REFERENCE_DIR, 'ipvlan'),
      path: refPath,
    });
    expect(errorOf(r)).toMatchObject({ code: 999, msg: 'failed to create ipvlan: operation not supported' });
    expect(leases('ipvnet', 'ipam-ref')).toEqual([]);
  });

  withoutIpvlan('a VLAN sub-interface master fails first, and is not left behind either', async () => {
    const r = await plugin('ADD', 'n1', conf({ master: 'phys0.40' }));
    expect(errorOf(r).msg).toMatch(/^failed to create VLAN sub-interface phys0\.40: /);
    expect((await sb.exec('host', ['ip', 'link', 'show', 'phys0.40'])).code).not.toBe(0);
    expect(leases()).toEqual([]);
  });

  it('DEL succeeds (idempotent, no netns needed); STATUS and GC answer', async () => {
    expect((await plugin('DEL', 'n1', conf())).code).toBe(0);
    expect((await plugin('DEL', 'n1', conf(), { netns: '' })).code).toBe(0);
    const c11 = { ...conf(), cniVersion: '1.1.0' };
    expect((await sb.runPlugin(IPVLAN, { command: 'STATUS', path: cniPath }, c11)).code).toBe(0);
    const missing = await sb.runPlugin(IPVLAN, { command: 'STATUS', path: cniPath }, { ...c11, master: 'nope0' });
    expect(errorOf(missing).code).toBe(50);
    const gc = await sb.runPlugin(
      IPVLAN,
      { command: 'GC', path: cniPath },
      { ...c11, 'cni.dev/valid-attachments': [] },
    );
    expect(gc.code).toBe(0);
  });

  it('bad input: unknown mode (7), no IPAM and nothing to chain (7), a missing master', async () => {
    await sb.addContainer('b1');
    expect(errorOf(await plugin('ADD', 'b1', conf({ mode: 'l4' })))).toMatchObject({
      code: 7,
      msg: 'unknown ipvlan mode: "l4"',
    });
    expect(errorOf(await plugin('ADD', 'b1', conf({}, null)))).toMatchObject({
      code: 7,
      msg: 'ipvlan needs an "ipam" section, or a prevResult with IPs to take over',
    });
    expect(errorOf(await plugin('ADD', 'b1', conf({ master: 'nope0' }))).msg).toBe(
      'failed to lookup master "nope0": link not found',
    );
    expect(leases()).toEqual([]);
  });
});

describe(`ipvlan traffic${skipNote('ipvlan')}`, () => {
  withIpvlan('l2: containers reach each other and the underlay host; CHECK; DEL', async () => {
    await sb.addContainer('a');
    await sb.addContainer('b');
    const ra = await plugin('ADD', 'a', conf({ mode: 'l2' }));
    expect(ra.code).toBe(0);
    expect((await plugin('ADD', 'b', conf({ mode: 'l2' }))).code).toBe(0);
    expect(ra.json).toMatchObject({
      interfaces: [{ name: 'eth0', sandbox: `/run/netns/${sb.nsName('a')}` }],
      ips: [{ interface: 0, address: '192.168.62.10/24' }],
    });
    expect(await ping('a', '192.168.62.11')).toBe(true);
    expect(await ping('a', OUTSIDE)).toBe(true);
    expect((await plugin('CHECK', 'a', { ...conf({ mode: 'l2' }), prevResult: ra.json })).code).toBe(0);
    expect(errorOf(await plugin('CHECK', 'a', { ...conf({ mode: 'l3' }), prevResult: ra.json })).msg).toBe(
      'Container IPVlan mode l2 does not match expected value: l3',
    );
    for (const c of ['a', 'b']) expect((await plugin('DEL', c, conf())).code).toBe(0);
    expect(leases()).toEqual([]);
    expect(await hasEth0('a')).toBe(false);
  });

  withIpvlan('l3: the mode the kernel reports, and a second ADD of one attachment fails without harm', async () => {
    await sb.addContainer('l3');
    const c = conf({ name: 'ipvl3', mode: 'l3' }, { rangeStart: '192.168.62.70', rangeEnd: '192.168.62.79' });
    expect((await plugin('ADD', 'l3', c)).code).toBe(0);
    const link = await sb.exec('l3', ['ip', '-j', '-d', 'link', 'show', 'eth0']);
    expect(JSON.stringify(link.json)).toContain('"mode":"l3"');
    expect((await plugin('ADD', 'l3', c)).code).not.toBe(0);
    expect(await hasEth0('l3')).toBe(true);
    expect((await plugin('DEL', 'l3', c)).code).toBe(0);
  });

  withIpvlan(
    'chained without IPAM: takes the previous result’s addresses and its only interface as master',
    async () => {
      await sb.addContainer('ch');
      const prev = {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'phys0' }],
        ips: [{ address: '192.168.62.90/24', gateway: '192.168.62.1' }],
      };
      const c = { cniVersion: '1.0.0', name: 'ipvch', type: 'ipvlan', prevResult: prev };
      const r = await plugin('ADD', 'ch', c);
      expect(r.json).toMatchObject({
        interfaces: [{ name: 'eth0' }],
        ips: [{ interface: 0, address: '192.168.62.90/24' }],
      });
      expect(await ping('ch', OUTSIDE)).toBe(true);
      expect((await plugin('DEL', 'ch', c)).code).toBe(0);
    },
  );
});
