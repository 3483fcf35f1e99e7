/**
 * macvlan against the real kernel, in a sandbox whose "physical" network is a veth pair to an
 * outside namespace: results, kernel state, traffic (containers to each other and to a host on
 * the underlay), modes, options, CHECK, DEL without netns or master, GC/STATUS, rollback,
 * VLAN sub-interfaces (traffic where the kernel has 802.1Q, the clear error and rollback where
 * it has not), and the reference plugin in the same sandbox.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kernelHasLinkKind, skipNote } from '../../lib/testutil/kernel';
import { BIN_DIR, REFERENCE_DIR, Sandbox, runOk, type RunResult } from '../../lib/testutil/sandbox';
import { globalAddrs } from '../../lib/testutil/addresses';
import { pings } from '../../lib/testutil/traffic';
import { addUnderlay } from '../../lib/testutil/underlay';

const MACVLAN = join(BIN_DIR, 'macvlan');
const OUTSIDE = '192.168.60.100';
let sb: Sandbox;
let cniPath = '';

function conf(extra: Record<string, unknown> = {}, ipam: Record<string, unknown> | null = {}): Record<string, unknown> {
  const c: Record<string, unknown> = { cniVersion: '1.0.0', name: 'mvnet', type: 'macvlan', master: 'phys0', ...extra };
  c['ipam'] =
    ipam === null
      ? {}
      : {
          type: 'host-local',
          subnet: '192.168.60.0/24',
          rangeStart: '192.168.60.10',
          rangeEnd: '192.168.60.60',
          dataDir: join(sb.dir, 'ipam'),
          ...ipam,
        };
  return c;
}

interface CallOpts {
  netns?: string;
  ifName?: string;
  exe?: string;
  path?: string;
  args?: string;
  id?: string;
}
function plugin(command: string, container: string, config: unknown, o: CallOpts = {}): Promise<RunResult> {
  return sb.runPlugin(
    o.exe ?? MACVLAN,
    {
      command,
      containerId: o.id ?? `ctr-${container}`,
      netns: o.netns ?? `/run/netns/${sb.nsName(container)}`,
      ifName: o.ifName ?? 'eth0',
      path: o.path ?? cniPath,
      args: o.args,
    },
    config,
  );
}

type IpLink = {
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: { mode?: string; bcqueuelen?: number } };
};
async function linkIn(where: string, name: string): Promise<IpLink | undefined> {
  const r = await sb.exec(where, ['ip', '-j', '-d', 'link', 'show', 'dev', name]);
  return r.code === 0 ? (r.json as IpLink[])[0] : undefined;
}
const addrsIn = (where: string, name: string): Promise<string[]> => globalAddrs(sb, where, name);
const ping = (from: string, to: string): Promise<boolean> => pings(sb, from, to, 1);
const leases = (net = 'mvnet', dir = 'ipam'): string[] => {
  try {
    return readdirSync(join(sb.dir, dir, net)).filter((f) => /^\d+\.\d+\.\d+\.\d+$|:/.test(f));
  } catch {
    return [];
  }
};
const errorOf = (r: RunResult): { code: number; msg: string; details?: string } =>
  r.json as { code: number; msg: string; details?: string };
const hostNsInode = async (): Promise<string> => (await runOk(['stat', '-L', '-c', '%i', sb.hostNsPath])).stdout.trim();
const vlanStateFiles = async (): Promise<string[]> => {
  const ino = await hostNsInode();
  const dir = join(sb.dir, 'tscni-state', 'vlan'); // the sandbox's TSCNI_STATE_DIR
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`${ino}-`)) : [];
};

beforeAll(async () => {
  sb = await Sandbox.create('mv');
  await addUnderlay(sb, { master: 'phys0', outside: 'out', subnet: '192.168.60' });
  cniPath = join(sb.dir, 'cni-bin');
  mkdirSync(cniPath);
  symlinkSync(join(BIN_DIR, 'host-local'), join(cniPath, 'host-local'));
  writeFileSync(join(cniPath, 'failing-ipam'), '#!/bin/sh\necho \'{"code":11,"msg":"ipam says no"}\'\nexit 1\n');
  chmodSync(join(cniPath, 'failing-ipam'), 0o755);
});
afterAll(async () => sb?.destroy());

describe('macvlan ADD: result, kernel state, traffic', () => {
  let resA: Record<string, unknown> = {};

  it('gives the reference result shape and a bridge-mode macvlan of the master in the container', async () => {
    await sb.addContainer('a');
    const r = await plugin('ADD', 'a', conf());
    expect(r.stdout + r.stderr).not.toMatch(/"code"/);
    expect(r.code).toBe(0);
    resA = r.json as Record<string, unknown>;
    const ifs = resA['interfaces'] as Array<{ name: string; mac: string; sandbox: string }>;
    expect(ifs).toHaveLength(1);
    expect(ifs[0]).toEqual({
      name: 'eth0',
      mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
      sandbox: `/run/netns/${sb.nsName('a')}`,
    });
    expect(resA['ips']).toEqual([{ interface: 0, address: '192.168.60.10/24', gateway: '192.168.60.1' }]);
    expect(resA).not.toHaveProperty('dns');
    const link = await linkIn('a', 'eth0');
    expect(link?.linkinfo?.info_kind).toBe('macvlan');
    expect(link?.linkinfo?.info_data?.mode).toBe('bridge');
    expect(link?.address).toBe(ifs[0]?.mac);
    expect(link?.flags).toContain('UP');
    expect(await addrsIn('a', 'eth0')).toEqual(['192.168.60.10/24']);
    // Nothing of the container's link shows in the host namespace.
    expect((await sb.exec('host', ['ip', '-br', 'link'])).stdout).not.toContain('eth0');
    const sysctl = await sb.exec('a', ['cat', '/proc/sys/net/ipv4/conf/eth0/arp_notify']);
    expect(sysctl.stdout.trim()).toBe('1');
  });

  it('containers on one network reach each other and a host on the underlay subnet', async () => {
    await sb.addContainer('b');
    expect((await plugin('ADD', 'b', conf())).code).toBe(0);
    expect(await ping('a', '192.168.60.11')).toBe(true);
    expect(await ping('b', '192.168.60.10')).toBe(true);
    expect(await ping('a', OUTSIDE)).toBe(true);
    expect(await ping('out', '192.168.60.11')).toBe(true);
  });

  it('CHECK passes, and fails with the reference message for each kind of drift', async () => {
    const prev = { ...conf(), prevResult: resA };
    expect((await plugin('CHECK', 'a', prev)).code).toBe(0);
    expect(errorOf(await plugin('CHECK', 'a', { ...prev, mode: 'vepa' })).msg).toBe(
      'Container macvlan mode bridge does not match expected value: vepa',
    );
    expect(errorOf(await plugin('CHECK', 'a', conf())).msg).toBe('Required prevResult missing');
    const wrongMac = JSON.parse(JSON.stringify(resA)) as { interfaces: Array<{ mac: string }> };
    wrongMac.interfaces[0]!.mac = '02:00:00:00:00:01';
    expect(errorOf(await plugin('CHECK', 'a', { ...conf(), prevResult: wrongMac })).msg).toMatch(
      /^Interface eth0 Mac 02:00:00:00:00:01 doesn't match container Mac: /,
    );
    expect(errorOf(await plugin('CHECK', 'a', { ...prev, master: 'nope0' })).msg).toBe(
      'failed to lookup master "nope0": link not found',
    );
    await sb.exec('a', ['ip', 'addr', 'del', '192.168.60.10/24', 'dev', 'eth0']);
    expect(errorOf(await plugin('CHECK', 'a', prev)).msg).toBe(
      'Failed to match addr 192.168.60.10/24 on interface eth0',
    );
    await sb.exec('a', ['ip', 'link', 'del', 'eth0']);
    expect(errorOf(await plugin('CHECK', 'a', prev)).msg).toBe(
      'Container Interface name in prevResult: eth0 not found',
    );
  });

  it('DEL releases the lease, is idempotent, and works with the netns gone or not given', async () => {
    expect(leases()).toEqual(expect.arrayContaining(['192.168.60.10', '192.168.60.11']));
    expect((await plugin('DEL', 'a', conf())).code).toBe(0);
    expect((await plugin('DEL', 'a', conf())).code).toBe(0);
    expect(leases()).not.toContain('192.168.60.10');
    await sb.removeContainer('b');
    expect((await plugin('DEL', 'b', conf())).code).toBe(0);
    expect(leases()).not.toContain('192.168.60.11');
    expect((await plugin('DEL', 'b', conf(), { netns: '' })).code).toBe(0);
  });
});

describe('macvlan modes and options', () => {
  it('private: containers cannot reach each other, but reach the underlay', async () => {
    await sb.addContainer('p1');
    await sb.addContainer('p2');
    const c = conf({ name: 'mvpriv', mode: 'private' }, { rangeStart: '192.168.60.70', rangeEnd: '192.168.60.79' });
    expect((await plugin('ADD', 'p1', c)).code).toBe(0);
    expect((await plugin('ADD', 'p2', c)).code).toBe(0);
    expect((await linkIn('p1', 'eth0'))?.linkinfo?.info_data?.mode).toBe('private');
    expect(await ping('p1', OUTSIDE)).toBe(true);
    expect(await ping('p1', '192.168.60.71')).toBe(false);
    for (const p of ['p1', 'p2']) expect((await plugin('DEL', p, c)).code).toBe(0);
  });

  it('vepa: the mode the kernel reports', async () => {
    await sb.addContainer('v1');
    const c = conf({ name: 'mvvepa', mode: 'vepa' }, { rangeStart: '192.168.60.80', rangeEnd: '192.168.60.89' });
    expect((await plugin('ADD', 'v1', c)).code).toBe(0);
    expect((await linkIn('v1', 'eth0'))?.linkinfo?.info_data?.mode).toBe('vepa');
    expect(await ping('v1', OUTSIDE)).toBe(true);
    expect((await plugin('DEL', 'v1', c)).code).toBe(0);
  });

  it('passthru: the container takes over a master of its own', async () => {
    await runOk(['ip', '-n', sb.hostNs, 'link', 'add', 'pt0', 'type', 'veth', 'peer', 'name', 'pt0peer']);
    await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'pt0', 'up']);
    await sb.addContainer('pt');
    const c = conf({ name: 'mvpt', master: 'pt0', mode: 'passthru' }, null);
    const r = await plugin('ADD', 'pt', c);
    expect(r.code).toBe(0);
    expect((await linkIn('pt', 'eth0'))?.linkinfo?.info_data?.mode).toBe('passthru');
    expect((await plugin('DEL', 'pt', c)).code).toBe(0);
  });

  it('mtu, MAC from runtimeConfig / CNI_ARGS / the mac key, bcqueuelen', async () => {
    await sb.addContainer('o1');
    const c = conf(
      { name: 'mvopt', mtu: 1400, mac: '02:aa:00:00:00:01', bcqueuelen: 321 },
      { rangeStart: '192.168.60.90', rangeEnd: '192.168.60.99' },
    );
    const r = await plugin('ADD', 'o1', c, { args: 'IgnoreUnknown=1;MAC=02:aa:00:00:00:02' });
    expect(r.code).toBe(0);
    const link = await linkIn('o1', 'eth0');
    expect(link).toMatchObject({ mtu: 1400, address: '02:aa:00:00:00:02' });
    expect(link?.linkinfo?.info_data?.bcqueuelen).toBe(321);
    expect((r.json as { interfaces: Array<{ mac: string }> }).interfaces[0]?.mac).toBe('02:aa:00:00:00:02');
    expect((await plugin('DEL', 'o1', c)).code).toBe(0);
    await sb.addContainer('o2');
    const rc = { ...c, runtimeConfig: { mac: '02:aa:00:00:00:03' } };
    const r2 = await plugin('ADD', 'o2', rc, { args: 'IgnoreUnknown=1;MAC=02:aa:00:00:00:02' });
    expect(r2.stdout).toContain('"ips"');
    expect((await linkIn('o2', 'eth0'))?.address).toBe('02:aa:00:00:00:03');
    expect((await plugin('DEL', 'o2', rc)).code).toBe(0);
  });

  it('no master: the link of the default route', async () => {
    await sb.addContainer('d1');
    const c = conf({ name: 'mvdef', master: undefined }, { rangeStart: '192.168.60.100', rangeEnd: '192.168.60.109' });
    delete c['master'];
    const r = await plugin('ADD', 'd1', c);
    expect(r.code).toBe(0);
    expect(await ping('d1', OUTSIDE)).toBe(true);
    expect((await plugin('DEL', 'd1', c)).code).toBe(0);
  });

  it('layer 2 only without IPAM: the link is up, with no address, and the result has no IPs', async () => {
    await sb.addContainer('l2');
    const c = conf({ name: 'mvl2' }, null);
    const r = await plugin('ADD', 'l2', c);
    expect(r.code).toBe(0);
    expect(r.json).not.toHaveProperty('ips');
    expect((await linkIn('l2', 'eth0'))?.flags).toContain('UP');
    expect(await addrsIn('l2', 'eth0')).toEqual([]);
    expect((await plugin('CHECK', 'l2', { ...c, prevResult: r.json })).code).toBe(0);
    expect((await plugin('DEL', 'l2', c)).code).toBe(0);
    expect(await linkIn('l2', 'eth0')).toBeUndefined();
  });

  it('linkInContainer: the master is a link in the container’s namespace', async () => {
    const ns = await sb.addContainer('lic');
    await sb.exec('lic', ['ip', 'link', 'add', 'cm0', 'type', 'veth', 'peer', 'name', 'cm1']);
    await sb.exec('lic', ['ip', 'link', 'set', 'cm0', 'up']);
    const c = conf({ name: 'mvlic', master: 'cm0', linkInContainer: true }, null);
    const r = await plugin('ADD', 'lic', c, { ifName: 'net1', netns: ns });
    expect(r.code).toBe(0);
    const link = await linkIn('lic', 'net1');
    expect(link?.linkinfo?.info_kind).toBe('macvlan');
    expect((await sb.exec('lic', ['ip', '-br', 'link', 'show', 'net1'])).stdout).toContain('net1@cm0');
    expect((await plugin('CHECK', 'lic', { ...c, prevResult: r.json }, { ifName: 'net1', netns: ns })).code).toBe(0);
    expect((await plugin('DEL', 'lic', c, { ifName: 'net1', netns: ns })).code).toBe(0);
    expect(await linkIn('lic', 'net1')).toBeUndefined();
  });
});

describe('bad input: a CNI error and nothing half-done', () => {
  const nothingLeft = async (container: string, before: string[], net = 'mvnet'): Promise<void> => {
    expect(leases(net)).toEqual(before);
    expect(await linkIn(container, 'eth0')).toBeUndefined();
  };

  it('a missing master', async () => {
    await sb.addContainer('e1');
    const before = leases();
    const r = await plugin('ADD', 'e1', conf({ master: 'nope0' }));
    expect(errorOf(r)).toMatchObject({ code: 999, msg: 'failed to lookup master "nope0": link not found' });
    await nothingLeft('e1', before);
  });

  it('a master inside the container that does not exist, with linkInContainer', async () => {
    const before = leases();
    const r = await plugin('ADD', 'e1', conf({ master: 'phys0', linkInContainer: true }));
    expect(errorOf(r).msg).toBe(`failed to lookup master "phys0" in the container's namespace: link not found`);
    await nothingLeft('e1', before);
  });

  it.each([
    [{ mode: 'source' }, 7, 'unknown macvlan mode: "source"'],
    [{ mtu: 9000 }, 7, 'invalid MTU 9000, must be [0, master MTU(1500)]'],
    [{ vlan: 4095 }, 7, 'invalid VLAN ID 4095 (must be between 1 and 4094)'],
    [{ master: 'phys0.0' }, 7, 'invalid VLAN ID 0 (must be between 1 and 4094)'],
    [{ mac: 'zz' }, 7, 'invalid args zz for MAC addr: address zz: invalid MAC address'],
  ])('%j → code %d', async (extra, code, msg) => {
    const before = leases();
    const r = await plugin('ADD', 'e1', conf(extra));
    expect(errorOf(r)).toMatchObject({ code, msg });
    await nothingLeft('e1', before);
  });

  it('a netns that does not exist', async () => {
    const r = await plugin('ADD', 'e1', conf(), { netns: '/run/netns/tscni-t-does-not-exist' });
    expect(errorOf(r).msg).toMatch(/^failed to open netns/);
  });

  it('an IPAM failure is reported unchanged and the link is removed', async () => {
    const r = await plugin('ADD', 'e1', conf({}, { type: 'failing-ipam' }));
    expect(r.json).toMatchObject({ code: 11, msg: 'ipam says no' });
    expect(await linkIn('e1', 'eth0')).toBeUndefined();
  });

  it('a failure after IPAM (a route the kernel refuses) removes the link and releases the lease', async () => {
    const before = leases();
    const r = await plugin('ADD', 'e1', conf({}, { routes: [{ dst: '10.9.0.0/16', gw: '203.0.113.1' }] }));
    expect(r.code).not.toBe(0);
    await nothingLeft('e1', before);
  });

  it('a second ADD of an attachment fails and leaves the first one intact', async () => {
    await sb.addContainer('e2');
    expect((await plugin('ADD', 'e2', conf())).code).toBe(0);
    const before = leases();
    const again = await plugin('ADD', 'e2', conf());
    expect(errorOf(again).msg).toBe('failed to create macvlan: interface "eth0" already exists in the container');
    expect(leases()).toEqual(before);
    expect((await linkIn('e2', 'eth0'))?.linkinfo?.info_kind).toBe('macvlan');
    expect((await plugin('DEL', 'e2', conf())).code).toBe(0);
  });

  it('DEL works after the master is gone (the reference v1.1.1 fails: "Link not found")', async () => {
    await runOk(['ip', '-n', sb.hostNs, 'link', 'add', 'gone0', 'type', 'veth', 'peer', 'name', 'gone1']);
    await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'gone0', 'up']);
    await sb.addContainer('mg');
    const c = conf({ name: 'mvgone', master: 'gone0' }, { rangeStart: '192.168.60.110', rangeEnd: '192.168.60.119' });
    expect((await plugin('ADD', 'mg', c)).code).toBe(0);
    await runOk(['ip', '-n', sb.hostNs, 'link', 'del', 'gone0']);
    expect((await plugin('DEL', 'mg', c)).code).toBe(0);
    expect(leases('mvgone')).toEqual([]);
    const ref = await plugin('DEL', 'mg', c, { exe: join(REFERENCE_DIR, 'macvlan') });
    expect(errorOf(ref).msg).toBe('Link not found');
  });
});

describe('GC and STATUS (cniVersion 1.1.0)', () => {
  const c11 = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    ...conf({ name: 'mvgc', ...extra }, { rangeStart: '192.168.60.120', rangeEnd: '192.168.60.129' }),
    cniVersion: '1.1.0',
  });
  const status = (c: unknown): Promise<RunResult> => sb.runPlugin(MACVLAN, { command: 'STATUS', path: cniPath }, c);

  it('STATUS: ready with its master; code 50 when the master (and a VLAN parent) is missing', async () => {
    expect((await status(c11())).code).toBe(0);
    expect(errorOf(await status(c11({ master: 'nope0' })))).toMatchObject({
      code: 50,
      details: 'master "nope0" does not exist',
    });
    expect((await status(c11({ master: 'phys0.42' }))).code).toBe(0);
    expect(errorOf(await status(c11({ master: 'nope0', vlan: 7 })))).toMatchObject({
      code: 50,
      details: 'master "nope0.7" does not exist, nor its VLAN parent "nope0"',
    });
  });

  it('GC is forwarded to IPAM: leases of attachments not valid any more are released', async () => {
    await sb.addContainer('g1');
    expect((await plugin('ADD', 'g1', c11())).code).toBe(0);
    expect(leases('mvgc')).toHaveLength(1);
    const gc = await sb.runPlugin(
      MACVLAN,
      { command: 'GC', path: cniPath },
      { ...c11(), 'cni.dev/valid-attachments': [] },
    );
    expect(gc.code).toBe(0);
    expect(leases('mvgc')).toEqual([]);
    expect((await plugin('DEL', 'g1', c11())).code).toBe(0);
  });
});

describe(`VLAN sub-interfaces: <parent>.<vid> masters and the vlan key`, () => {
  const hasVlan = kernelHasLinkKind('vlan');
  const vnet = (name: string, vid: number, first: number): Record<string, unknown> =>
    conf(
      { name, master: 'phys0', vlan: vid },
      { subnet: '192.168.70.0/24', rangeStart: `192.168.70.${first}`, rangeEnd: `192.168.70.${first + 9}` },
    );

  (hasVlan ? it.skip : it)(
    'without 802.1Q in the kernel: a clear CNI error, and no link, lease or state left',
    async () => {
      await sb.addContainer('nv');
      for (const c of [vnet('vlan10', 10, 10), conf({ name: 'vlan10', master: 'phys0.10' })]) {
        const r = await plugin('ADD', 'nv', c);
        expect(errorOf(r)).toMatchObject({
          code: 999,
          msg: 'failed to create VLAN sub-interface phys0.10: this kernel has no 802.1Q VLAN links (CONFIG_VLAN_8021Q)',
        });
        expect(errorOf(r).details).toMatch(/EOPNOTSUPP/);
        expect(leases('vlan10')).toEqual([]);
        expect(await linkIn('host', 'phys0.10')).toBeUndefined();
        expect(await linkIn('nv', 'eth0')).toBeUndefined();
        expect(await vlanStateFiles()).toEqual([]);
        expect((await plugin('DEL', 'nv', c)).code).toBe(0);
      }
    },
  );

  (hasVlan ? it : it.skip)(
    `VLAN 10 and VLAN 20 of one parent: traffic inside a VLAN, none across${skipNote('vlan')}`,
    async () => {
      const out = sb.nsName('out');
      for (const vid of [10, 20]) {
        await runOk([
          'ip',
          '-n',
          out,
          'link',
          'add',
          'link',
          'uplink',
          'name',
          `uplink.${vid}`,
          'type',
          'vlan',
          'id',
          `${vid}`,
        ]);
        await runOk([
          'ip',
          '-n',
          out,
          'addr',
          'add',
          `192.168.70.${vid === 10 ? 100 : 200}/24`,
          'dev',
          `uplink.${vid}`,
        ]);
        await runOk(['ip', '-n', out, 'link', 'set', `uplink.${vid}`, 'up']);
      }
      // One subnet on both VLANs: only 802.1Q separates them.
      const v10 = vnet('vlan10', 10, 10);
      const v20 = conf(
        { name: 'vlan20', master: 'phys0.20' },
        { subnet: '192.168.70.0/24', rangeStart: '192.168.70.30', rangeEnd: '192.168.70.39' },
      );
      for (const [ctr, c] of [
        ['t1', v10],
        ['t2', v10],
        ['t3', v20],
      ] as const) {
        await sb.addContainer(ctr);
        const r = await plugin('ADD', ctr, c);
        expect(r.stdout).toContain('"ips"');
      }
      expect((await linkIn('host', 'phys0.10'))?.ifalias).toMatch(/^tscni: /);
      expect(await ping('t1', '192.168.70.11')).toBe(true);
      expect(await ping('t1', '192.168.70.100')).toBe(true);
      expect(await ping('t3', '192.168.70.200')).toBe(true);
      expect(await ping('t3', '192.168.70.10')).toBe(false);
      expect(await ping('t1', '192.168.70.200')).toBe(false);
      expect(await vlanStateFiles()).toHaveLength(2);
      // The sub-interface stays while a container uses it and goes with the last one.
      expect((await plugin('DEL', 't1', v10)).code).toBe(0);
      expect(await linkIn('host', 'phys0.10')).toBeDefined();
      expect(await ping('t2', '192.168.70.100')).toBe(true);
      expect((await plugin('DEL', 't2', v10)).code).toBe(0);
      expect(await linkIn('host', 'phys0.10')).toBeUndefined();
      expect((await plugin('DEL', 't3', v20)).code).toBe(0);
      expect(await linkIn('host', 'phys0.20')).toBeUndefined();
      expect(await vlanStateFiles()).toEqual([]);
    },
  );

  (hasVlan ? it : it.skip)(
    `a sub-interface someone else made is used and never removed${skipNote('vlan')}`,
    async () => {
      await runOk([
        'ip',
        '-n',
        sb.hostNs,
        'link',
        'add',
        'link',
        'phys0',
        'name',
        'phys0.30',
        'type',
        'vlan',
        'id',
        '30',
      ]);
      await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'phys0.30', 'up']);
      await sb.addContainer('f1');
      const c = conf({ name: 'vlan30', master: 'phys0.30' }, { subnet: '192.168.71.0/24' });
      expect((await plugin('ADD', 'f1', c)).code).toBe(0);
      expect((await plugin('DEL', 'f1', c)).code).toBe(0);
      expect(await linkIn('host', 'phys0.30')).toBeDefined();
    },
  );
});

describe('differential: the reference macvlan in the same sandbox', () => {
  it('same config → same result shape, same link, addresses, routes and lease files', async () => {
    const refPath = join(sb.dir, 'ref-bin');
    mkdirSync(refPath);
    symlinkSync(join(REFERENCE_DIR, 'host-local'), join(refPath, 'host-local'));
    await sb.addContainer('r1');
    await sb.addContainer('r2');
    const mk = (who: string): Record<string, unknown> =>
      conf(
        { name: 'diffnet', mode: 'vepa', mtu: 1450 },
        { rangeStart: '192.168.60.200', rangeEnd: '192.168.60.209', dataDir: join(sb.dir, `ipam-${who}`) },
      );
    const ours = await plugin('ADD', 'r1', mk('ours'), { id: 'same-id' });
    const theirs = await plugin('ADD', 'r2', mk('ref'), {
      id: 'same-id',
      exe: join(REFERENCE_DIR, 'macvlan'),
      path: refPath,
    });
    expect(ours.code).toBe(0);
    expect(theirs.code).toBe(0);
    // v1.1.1 prints an empty "dns": {}; newer reference releases omit it, as we do.
    const shape = (j: unknown): unknown =>
      JSON.parse(
        JSON.stringify(j)
          .replace(/,"dns":\{\}/, '')
          .replace(/"mac":"[^"]*"/g, '"mac":"M"')
          .replace(/tscni-t-[^"]*-r[12]/g, 'NS'),
      );
    expect(shape(ours.json)).toEqual(shape(theirs.json));
    const state = async (ctr: string): Promise<unknown> => {
      const l = await linkIn(ctr, 'eth0');
      const routes = (await sb.exec(ctr, ['ip', '-j', 'route', 'show'])).json;
      return {
        kind: l?.linkinfo?.info_kind,
        mode: l?.linkinfo?.info_data?.mode,
        mtu: l?.mtu,
        flags: l?.flags,
        addrs: await addrsIn(ctr, 'eth0'),
        routes,
      };
    };
    const [a, b] = [await state('r1'), await state('r2')];
    expect(a).toEqual(b);
    const store = (who: string): Record<string, string> => {
      const d = join(sb.dir, `ipam-${who}`, 'diffnet');
      return Object.fromEntries(
        readdirSync(d)
          .filter((f) => !f.startsWith('.') && f !== 'lock')
          .map((f) => [f, readFileSync(join(d, f), 'utf8')]),
      );
    };
    expect(store('ours')).toEqual(store('ref'));
    // Each one's CHECK accepts the other's prevResult and state.
    expect((await plugin('CHECK', 'r2', { ...mk('ref'), prevResult: theirs.json }, { id: 'same-id' })).code).toBe(0);
    expect((await plugin('DEL', 'r1', mk('ours'), { id: 'same-id' })).code).toBe(0);
    expect(
      (await plugin('DEL', 'r2', mk('ref'), { id: 'same-id', exe: join(REFERENCE_DIR, 'macvlan'), path: refPath }))
        .code,
    ).toBe(0);
    expect(store('ours')).toEqual(store('ref'));
  });
});
