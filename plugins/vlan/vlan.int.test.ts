/**
 * vlan against the real kernel, in a sandbox whose uplink is a veth to an "outside" namespace,
 * beside the reference plugin (/usr/lib/cni/vlan, v1.1.1) with the same configs. Where the kernel
 * has no 802.1Q (this project's test kernel): both fail ADD, ours naming the missing link type,
 * and neither leaves a link, a lease or anything in the host behind; the config errors compare;
 * DEL, STATUS and GC answer. Where it has 802.1Q: tagged traffic to a VLAN interface outside,
 * the reference's and our link side by side, CHECK, DEL. The exact netlink requests are pinned
 * by plan.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { kernelHasLinkKind, skipNote } from '../../lib/testutil/kernel';
import { requireProgram } from '../../lib/testutil/programs';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../../lib/testutil/sandbox';
import { pings } from '../../lib/testutil/traffic';
import { addUnderlay } from '../../lib/testutil/underlay';

const OURS = join(BIN_DIR, 'vlan');
const REF = join(REFERENCE_DIR, 'vlan');
const has8021q = kernelHasLinkKind('vlan');
const withVlan = has8021q ? it : it.skip;
const withoutVlan = has8021q ? it.skip : it;

let sb: Sandbox;
const paths = { ours: '', ref: '' };

type Side = 'ours' | 'ref';
const dataDir = (side: Side): string => join(sb.dir, `ipam-${side}`);
function conf(side: Side, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'vlnet',
    type: 'vlan',
    master: 'phys0',
    vlanId: 10,
    ipam: { type: 'host-local', subnet: '192.168.64.0/24', rangeStart: '192.168.64.10', dataDir: dataDir(side) },
    ...extra,
  };
}
function plugin(side: Side, command: string, ctr: string, config: unknown, netns?: string): Promise<RunResult> {
  return sb.runPlugin(
    side === 'ours' ? OURS : REF,
    {
      command,
      containerId: `id-${ctr}`,
      netns: netns ?? `/run/netns/${sb.nsName(ctr)}`,
      ifName: 'eth0',
      path: paths[side],
    },
    config,
  );
}
const errorOf = (r: RunResult): { code: number; msg: string; details?: string } =>
  r.json as { code: number; msg: string; details?: string };
const leases = (side: Side): string[] => {
  const d = join(dataDir(side), 'vlnet');
  return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
};
const linkNames = async (where: string): Promise<string[]> =>
  ((await sb.exec(where, ['ip', '-j', 'link', 'show'])).json as Array<{ ifname: string }>).map((l) => l.ifname).sort();

beforeAll(async () => {
  requireProgram('/usr/lib/cni/bridge'); // Debian's reference plugins, vlan among them
  sb = await Sandbox.create('vlan');
  await addUnderlay(sb, { master: 'phys0', outside: 'out', subnet: '192.168.63' });
  for (const side of ['ours', 'ref'] as const) {
    paths[side] = join(sb.dir, `cni-${side}`);
    mkdirSync(paths[side]);
    symlinkSync(join(side === 'ours' ? BIN_DIR : REFERENCE_DIR, 'host-local'), join(paths[side], 'host-local'));
  }
});
afterAll(async () => sb?.destroy());

describe('vlan on a kernel without 802.1Q, beside the reference', () => {
  withoutVlan('ADD fails in both, ours naming the missing link type; neither leaves anything', async () => {
    await sb.addContainer('a');
    const hostBefore = await linkNames('host');
    const ours = await plugin('ours', 'ADD', 'a', conf('ours'));
    expect(errorOf(ours)).toMatchObject({
      code: 999,
      msg: 'failed to create vlan: this kernel has no 802.1Q VLAN links (CONFIG_VLAN_8021Q)',
    });
    expect(errorOf(ours).details).toMatch(/EOPNOTSUPP/);
    const ref = await plugin('ref', 'ADD', 'a', conf('ref'));
    expect(errorOf(ref)).toEqual({ code: 999, msg: 'failed to create vlan: operation not supported' });
    for (const side of ['ours', 'ref'] as const) expect(leases(side)).toEqual([]);
    expect(await linkNames('a')).toEqual(['lo']);
    expect(await linkNames('host')).toEqual(hostBefore);
  });

  withoutVlan('linkInContainer (master in the container): the same error, nothing left', async () => {
    await sb.addContainer('lic');
    await sb.exec('lic', ['ip', 'link', 'add', 'cphys0', 'type', 'veth', 'peer', 'name', 'cphys1']);
    const r = await plugin('ours', 'ADD', 'lic', conf('ours', { master: 'cphys0', linkInContainer: true }));
    expect(errorOf(r).msg).toBe('failed to create vlan: this kernel has no 802.1Q VLAN links (CONFIG_VLAN_8021Q)');
    expect(await linkNames('lic')).toEqual(['cphys0', 'cphys1', 'lo']);
    expect(leases('ours')).toEqual([]);
  });

  it('config errors: the same messages (ours code 7 where the reference says 999)', async () => {
    await sb.addContainer('bad');
    const cases: Array<[Record<string, unknown>, string | RegExp]> = [
      [{ mtu: 9000 }, 'invalid MTU 9000, must be [0, master MTU(1500)]'],
      [
        { master: undefined },
        /^"master" field is required\. It specifies the host interface name to create the VLAN for/,
      ],
      [{ vlanId: 4095 }, /^invalid VLAN ID 4095 \(must be between 0 and 409[45] inclusive\)$/],
    ];
    for (const [extra, msg] of cases) {
      const ours = errorOf(await plugin('ours', 'ADD', 'bad', conf('ours', extra)));
      const ref = errorOf(await plugin('ref', 'ADD', 'bad', conf('ref', extra)));
      expect(ours.code).toBe(7);
      expect(ref.code).toBe(999);
      expect(ours.msg).toMatch(msg);
      expect(ref.msg).toMatch(msg);
    }
    expect(leases('ours')).toEqual([]);
    expect(leases('ref')).toEqual([]);
  });

  it('a missing master: both fail before anything is made (ours says which link)', async () => {
    const ours = errorOf(await plugin('ours', 'ADD', 'bad', conf('ours', { master: 'nope0' })));
    expect(ours).toMatchObject({ code: 999, msg: 'failed to lookup master "nope0": link not found' });
    expect(errorOf(await plugin('ref', 'ADD', 'bad', conf('ref', { master: 'nope0' }))).msg).toBe('Link not found');
  });

  it('DEL: ours succeeds also without the master or the namespace; the reference fails without the master', async () => {
    for (const netns of [undefined, '']) expect((await plugin('ours', 'DEL', 'a', conf('ours'), netns)).code).toBe(0);
    expect((await plugin('ours', 'DEL', 'a', conf('ours', { master: 'gone0' }))).code).toBe(0);
    expect(errorOf(await plugin('ref', 'DEL', 'a', conf('ref', { master: 'gone0' })))).toMatchObject({
      code: 999,
      msg: 'Link not found',
    });
  });

  it('STATUS: ready with the master, code 50 without it; GC forwarded to IPAM', async () => {
    const c11 = { ...conf('ours'), cniVersion: '1.1.0' };
    expect((await sb.runPlugin(OURS, { command: 'STATUS', path: paths.ours }, c11)).code).toBe(0);
    const missing = await sb.runPlugin(OURS, { command: 'STATUS', path: paths.ours }, { ...c11, master: 'gone0' });
    expect(errorOf(missing)).toMatchObject({ code: 50, details: 'master "gone0" does not exist' });
    const gc = await sb.runPlugin(
      OURS,
      { command: 'GC', path: paths.ours },
      { ...c11, 'cni.dev/valid-attachments': [] },
    );
    expect(gc.code).toBe(0);
  });
});

describe(`vlan traffic, beside the reference${skipNote('vlan')}`, () => {
  beforeAll(async () => {
    if (!has8021q) return;
    // The outside machine's own VLAN 10 interface.
    await sb.exec('out', ['ip', 'link', 'add', 'link', 'uplink', 'name', 'uplink.10', 'type', 'vlan', 'id', '10']);
    await sb.exec('out', ['ip', 'addr', 'add', '192.168.64.100/24', 'dev', 'uplink.10']);
    await sb.exec('out', ['ip', 'link', 'set', 'uplink.10', 'up']);
  });

  withVlan(
    'ours, then the reference, give a container VLAN 10 of phys0 that reaches the outside; CHECK; DEL',
    async () => {
      // One VLAN ID per parent link (the kernel refuses a second), so the two take turns.
      const shapes: unknown[] = [];
      for (const side of ['ours', 'ref'] as const) {
        const ctr = side === 'ours' ? 'vo' : 'vr';
        await sb.addContainer(ctr);
        const r = await plugin(side, 'ADD', ctr, conf(side));
        expect(r.code).toBe(0);
        const j = r.json as {
          interfaces: Array<{ name: string; sandbox?: string }>;
          ips: Array<{ interface: number }>;
        };
        shapes.push({ ifs: j.interfaces.map((i) => i.name), ips: j.ips.map((ip) => ip.interface) });
        const l = await sb.exec(ctr, ['ip', '-j', '-d', 'link', 'show', 'eth0']);
        expect(l.json).toMatchObject([{ linkinfo: { info_kind: 'vlan', info_data: { id: 10 } } }]);
        expect(await pings(sb, ctr, '192.168.64.100', 2)).toBe(true);
        if (side === 'ours') {
          const withPrev = { ...conf('ours'), prevResult: r.json };
          expect((await plugin('ours', 'CHECK', ctr, withPrev)).code).toBe(0);
          expect(errorOf(await plugin('ours', 'CHECK', ctr, { ...withPrev, vlanId: 11 })).msg).toContain(
            'configured VLAN ID is 11, current value is 10',
          );
        }
        expect((await plugin(side, 'DEL', ctr, conf(side))).code).toBe(0);
        expect(leases(side)).toEqual([]);
        expect(await linkNames(ctr)).toEqual(['lo']);
      }
      expect(shapes[0]).toEqual(shapes[1]);
    },
  );

  withVlan('an MTU and VLAN 0 (priority tags only); a second ADD of one attachment fails without harm', async () => {
    await sb.addContainer('v0');
    const c = conf('ours', { vlanId: 0, mtu: 1400 });
    expect((await plugin('ours', 'ADD', 'v0', c)).code).toBe(0);
    const l = await sb.exec('v0', ['ip', '-j', '-d', 'link', 'show', 'eth0']);
    expect(l.json).toMatchObject([{ mtu: 1400, linkinfo: { info_data: { id: 0 } } }]);
    expect((await plugin('ours', 'ADD', 'v0', c)).code).not.toBe(0);
    expect(await linkNames('v0')).toEqual(['eth0', 'lo']);
    expect((await plugin('ours', 'DEL', 'v0', c)).code).toBe(0);
  });
});
