/**
 * vrf against the real kernel, chained after our bridge plugin in a sandbox, beside the reference
 * plugin (/usr/lib/cni/vrf, v1.1.1) with the same configs. Where the kernel has no VRF (this
 * project's test kernel): both fail ADD, ours naming the missing link type, and the interface's
 * master, addresses and routes are exactly as before; DEL and the config errors compare. Where it
 * has VRF: the interface in the VRF with its routes in the VRF's table (as the reference puts
 * them), IPv6 addresses the move drops put back, traffic through the VRF, a VRF shared by two
 * interfaces and removed with the last, CHECK. The exact netlink requests are pinned by
 * plan.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { kernelHasLinkKind, skipNote } from '../../lib/testutil/kernel';
import { requireProgram } from '../../lib/testutil/programs';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../../lib/testutil/sandbox';

const OURS = join(BIN_DIR, 'vrf');
const REF = join(REFERENCE_DIR, 'vrf');
const hasVrf = kernelHasLinkKind('vrf');
const withVrf = hasVrf ? it : it.skip;
const withoutVrf = hasVrf ? it.skip : it;

let sb: Sandbox;
let cniPath = '';

const netnsOf = (ctr: string): string => `/run/netns/${sb.nsName(ctr)}`;
const bridgeConf = (n = 0): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: `brnet${n}`,
  type: 'bridge',
  bridge: `vrfbr${n}`,
  isGateway: true,
  ipam: {
    type: 'host-local',
    ranges: [[{ subnet: `10.68.${n}.0/24` }], [{ subnet: `fd68:${n}::/64` }]],
    routes: [{ dst: `10.69.${n}.0/24` }],
    dataDir: join(sb.dir, 'ipam'),
  },
});
const vrfConf = (prevResult: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'vrfnet',
  type: 'vrf',
  vrfname: 'blue',
  prevResult,
  ...extra,
});
const call = (exe: string, command: string, ctr: string, config: unknown, ifName = 'eth0'): Promise<RunResult> =>
  sb.runPlugin(exe, { command, containerId: `id-${ctr}`, netns: netnsOf(ctr), ifName, path: cniPath }, config);
const errorOf = (r: RunResult): { code: number; msg: string; details?: string } =>
  r.json as { code: number; msg: string; details?: string };

/** The container's links, addresses and every table's routes: what a failed ADD must leave alone. */
async function state(ctr: string): Promise<string> {
  const links = await sb.exec(ctr, ['ip', '-j', 'link', 'show']);
  const addrs = await sb.exec(ctr, ['ip', '-j', 'addr', 'show']);
  const routes4 = await sb.exec(ctr, ['ip', '-j', 'route', 'show', 'table', 'all']);
  const routes6 = await sb.exec(ctr, ['ip', '-j', '-6', 'route', 'show', 'table', 'all']);
  const strip = (j: unknown): unknown =>
    JSON.parse(
      JSON.stringify(j, (k, v: unknown) =>
        ['valid_life_time', 'preferred_life_time', 'expires'].includes(k) ? undefined : v,
      ),
    );
  return JSON.stringify([links.json, strip(addrs.json), routes4.json, strip(routes6.json)]);
}

/** A container wired by our bridge plugin; returns bridge's result (the vrf plugin's prevResult). */
async function bridged(ctr: string, n = 0, ifName = 'eth0'): Promise<unknown> {
  const r = await call(join(BIN_DIR, 'bridge'), 'ADD', ctr, bridgeConf(n), ifName);
  expect(r.code).toBe(0);
  return r.json;
}

beforeAll(async () => {
  requireProgram('/usr/lib/cni/bridge'); // Debian's reference plugins, vrf among them
  sb = await Sandbox.create('vrf');
  cniPath = join(sb.dir, 'cni-bin');
  mkdirSync(cniPath);
  symlinkSync(join(BIN_DIR, 'host-local'), join(cniPath, 'host-local'));
});
afterAll(async () => sb?.destroy());

describe('vrf on a kernel without VRF, beside the reference', () => {
  let prev: unknown;
  beforeAll(async () => {
    await sb.addContainer('a');
    prev = await bridged('a');
  });

  withoutVrf(
    'ADD fails in both, ours naming the missing link type; the interface is left exactly as it was',
    async () => {
      const before = await state('a');
      const ours = await call(OURS, 'ADD', 'a', vrfConf(prev));
      expect(errorOf(ours)).toMatchObject({
        code: 999,
        msg: 'cmdAdd failed: could not add VRF blue: this kernel has no VRF links (CONFIG_NET_VRF)',
      });
      expect(errorOf(ours).details).toMatch(/EOPNOTSUPP/);
      expect(await state('a')).toBe(before);
      const ref = await call(REF, 'ADD', 'a', vrfConf(prev));
      expect(errorOf(ref)).toEqual({
        code: 999,
        msg: 'cmdAdd failed: could not add VRF blue: operation not supported',
      });
      expect(await state('a')).toBe(before);
    },
  );

  withoutVrf(
    'CHECK: ours fails without the VRF (v1.1.1 passes: it drops its own error, fixed upstream later)',
    async () => {
      expect(errorOf(await call(OURS, 'CHECK', 'a', vrfConf(prev))).msg).toBe(
        'failed to find VRF blue: link not found',
      );
      expect((await call(REF, 'CHECK', 'a', vrfConf(prev))).code).toBe(0);
    },
  );

  it('DEL succeeds in both with no VRF, also without a namespace (ours)', async () => {
    expect((await call(OURS, 'DEL', 'a', vrfConf(prev))).code).toBe(0);
    expect((await call(REF, 'DEL', 'a', vrfConf(prev))).code).toBe(0);
    const noNetns = await sb.runPlugin(
      OURS,
      { command: 'DEL', containerId: 'id-a', netns: '', ifName: 'eth0', path: cniPath },
      vrfConf(prev),
    );
    expect(noNetns.code).toBe(0);
  });

  it('config errors: the reference’s messages (ours code 7 where it says 999)', async () => {
    for (const [extra, msg] of [
      [{ vrfname: undefined }, 'configuration is expected to have a valid vrf name'],
      [{ prevResult: undefined }, 'missing prevResult from earlier plugin'],
    ] as const) {
      const ours = errorOf(await call(OURS, 'ADD', 'a', vrfConf(prev, extra)));
      const ref = errorOf(await call(REF, 'ADD', 'a', vrfConf(prev, extra)));
      expect([ours.code, ours.msg]).toEqual([7, msg]);
      expect([ref.code, ref.msg]).toEqual([999, msg]);
    }
  });

  it('versions: the reference refuses configs before 0.3.1, ours takes them (a deliberate difference)', async () => {
    const old = { ...vrfConf(undefined), cniVersion: '0.3.0', prevResult: { cniVersion: '0.3.0', ips: [] } };
    expect(errorOf(await call(REF, 'ADD', 'a', old))).toMatchObject({ code: 1, msg: 'incompatible CNI versions' });
    expect(errorOf(await call(OURS, 'ADD', 'a', old)).code).not.toBe(1);
  });
});

describe(`vrf on a kernel with VRF, beside the reference${skipNote('vrf')}`, () => {
  withVrf('ours: eth0 in VRF blue, its routes in the VRF’s table, IPv6 put back, traffic through the VRF', async () => {
    await sb.addContainer('v1');
    const prev = await bridged('v1', 1);
    // Without keep_addr_on_down the move drops eth0's IPv6 address: the plugin must put it back.
    await sb.exec('v1', ['sysctl', '-qw', 'net.ipv6.conf.eth0.keep_addr_on_down=0']);
    const r = await call(OURS, 'ADD', 'v1', vrfConf(prev));
    expect(r.code).toBe(0);
    expect(r.json).toEqual(prev);
    const eth0 = await sb.exec('v1', ['ip', '-j', '-d', 'link', 'show', 'eth0']);
    expect(eth0.json).toMatchObject([{ master: 'blue' }]);
    const vrf = await sb.exec('v1', ['ip', '-j', '-d', 'link', 'show', 'blue']);
    expect(vrf.json).toMatchObject([{ linkinfo: { info_kind: 'vrf', info_data: { table: 1 } } }]);
    const addrs = await sb.exec('v1', ['ip', '-j', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global']);
    expect(JSON.stringify(addrs.json)).toContain('fd68:1::');
    const table = await sb.exec('v1', ['ip', '-j', 'route', 'show', 'vrf', 'blue']);
    expect(table.json).toEqual(
      expect.arrayContaining([expect.objectContaining({ dst: '10.69.1.0/24', gateway: '10.68.1.1', dev: 'eth0' })]),
    );
    const main = await sb.exec('v1', ['ip', '-j', 'route', 'show', '10.69.1.0/24']);
    expect(main.json).toEqual([]);
    expect((await sb.exec('v1', ['ping', '-c1', '-W2', '-I', 'blue', '10.68.1.1'])).code).toBe(0);
    expect((await call(OURS, 'CHECK', 'v1', vrfConf(prev))).code).toBe(0);
    expect(errorOf(await call(OURS, 'CHECK', 'v1', vrfConf(prev, { table: 42 }))).msg).toBe(
      'VRF blue has routing table 1, configured 42',
    );
  });

  withVrf('the reference puts the same routes in the VRF’s table', async () => {
    await sb.addContainer('r1');
    const prev = await bridged('r1', 1);
    expect((await call(REF, 'ADD', 'r1', vrfConf(prev))).code).toBe(0);
    const routes = async (ctr: string): Promise<unknown> =>
      ((await sb.exec(ctr, ['ip', '-j', 'route', 'show', 'vrf', 'blue'])).json as Array<Record<string, unknown>>)
        .map((r) => `${String(r['dst'])} ${String(r['gateway'] ?? '')} ${String(r['dev'])}`)
        .sort();
    expect(await routes('v1')).toEqual(await routes('r1'));
    expect((await call(REF, 'DEL', 'r1', vrfConf(prev))).code).toBe(0);
  });

  withVrf('two interfaces share the VRF; DEL of one keeps it, DEL of the last removes it', async () => {
    const prev1 = await bridged('v1', 2, 'eth1');
    expect((await call(OURS, 'ADD', 'v1', vrfConf(prev1), 'eth1')).code).toBe(0);
    expect((await call(OURS, 'DEL', 'v1', vrfConf(prev1), 'eth1')).code).toBe(0);
    expect((await sb.exec('v1', ['ip', 'link', 'show', 'blue'])).code).toBe(0);
    expect((await call(OURS, 'DEL', 'v1', vrfConf(undefined))).code).toBe(0);
    expect((await sb.exec('v1', ['ip', 'link', 'show', 'blue'])).code).not.toBe(0);
    expect((await call(OURS, 'DEL', 'v1', vrfConf(undefined))).code).toBe(0);
  });

  withVrf(
    'an existing VRF with another table is refused; an interface with a master is refused; nothing changes',
    async () => {
      await sb.addContainer('v3');
      const prev = await bridged('v3', 3);
      await sb.exec('v3', ['ip', 'link', 'add', 'blue', 'type', 'vrf', 'table', '77']);
      const before = await state('v3');
      expect(errorOf(await call(OURS, 'ADD', 'v3', vrfConf(prev, { table: 5 }))).msg).toBe(
        'cmdAdd failed: VRF blue already exist with different routing table 77',
      );
      await sb.exec('v3', ['ip', 'link', 'add', 'red', 'type', 'vrf', 'table', '78']);
      await sb.exec('v3', ['ip', 'link', 'set', 'eth0', 'master', 'red']);
      const enslaved = await state('v3');
      expect(errorOf(await call(OURS, 'ADD', 'v3', vrfConf(prev))).msg).toBe(
        'cmdAdd failed: interface eth0 has already a master set: red',
      );
      expect(await state('v3')).toBe(enslaved);
      expect(before).not.toBe(enslaved);
    },
  );
});
