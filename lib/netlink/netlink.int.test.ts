/**
 * lib/netlink against the real kernel (root): the FFI code runs in a compiled Bun executable
 * (testdriver.ts, built once into the sandbox directory) inside a throwaway sandbox, and
 * everything it does is checked with iproute2's JSON output. Nothing touches the machine's own
 * namespace; the sandbox is deleted afterwards, also on failure.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { REPO_ROOT, Sandbox, runOk } from '../testutil/sandbox';
import { requireProgram } from '../testutil/programs';

const BUN = join(REPO_ROOT, 'node_modules', '.bin', 'bun');

let sb: Sandbox;
let driver = '';
let ctr = ''; // container netns path

type Ok = { ok: true; value: unknown };
type Fail = { ok: false; errno?: string; message: string; extack?: string };
type Step = { op: string; args?: unknown[]; netns?: string };
type IpLink = Record<string, unknown> & { linkinfo?: Record<string, Record<string, unknown> | string> };

/** Runs steps in the compiled driver inside a sandbox namespace; returns one result per step. */
async function drive(steps: Step[], where = 'host'): Promise<Array<Ok | Fail>> {
  const r = await sb.exec(where, [driver, JSON.stringify(steps)]);
  if (r.code !== 0) throw new Error(`driver exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.json as Array<Ok | Fail>;
}

/** Like drive, for steps that must all succeed; returns their values. */
async function driveOk(steps: Step[], where = 'host'): Promise<unknown[]> {
  const res = await drive(steps, where);
  res.forEach((r, i) => {
    if (!r.ok) throw new Error(`step ${i} ${JSON.stringify(steps[i])} failed: ${r.message}`);
  });
  return res.map((r) => (r as Ok).value);
}

const one = async (step: Step, where = 'host'): Promise<unknown> => (await driveOk([step], where))[0];
const fail = async (step: Step, where = 'host'): Promise<Fail> => {
  const [r] = await drive([step], where);
  if (!r || r.ok) throw new Error(`expected ${JSON.stringify(step)} to fail, got ${JSON.stringify(r)}`);
  return r;
};
const idx = (name: string): { $index: string } => ({ $index: name });

async function ipLink(where: string, name: string): Promise<IpLink | undefined> {
  const r = await sb.exec(where, ['ip', '-j', '-d', 'link', 'show', 'dev', name]);
  return r.code === 0 ? (r.json as IpLink[])[0] : undefined;
}
const ipJson = async (where: string, args: string[]): Promise<Array<Record<string, unknown>>> =>
  (await sb.exec(where, ['ip', '-j', ...args])).json as Array<Record<string, unknown>>;
const nsInodeOf = async (where: string): Promise<number> =>
  Number((await sb.exec(where, ['stat', '-L', '-c', '%i', '/proc/self/ns/net'])).stdout.trim());

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('netlink integration tests need root');
  sb = await Sandbox.create('nl');
  ctr = await sb.addContainer('c1');
  driver = join(sb.dir, 'nldriver');
  await runOk([BUN, 'build', '--compile', '--minify', join(__dirname, 'testdriver.ts'), '--outfile', driver]);
});

afterAll(async () => sb?.destroy());

describe('links', () => {
  it('creates a bridge and reads it back like ip does', async () => {
    const [, link] = await driveOk([
      { op: 'createBridge', args: [{ name: 'br0', mtu: 1400, mac: '02:42:ac:11:00:01' }] },
      { op: 'linkByName', args: ['br0'] },
    ]);
    const ip = await ipLink('host', 'br0');
    expect(link).toMatchObject({
      index: ip?.['ifindex'],
      name: 'br0',
      kind: 'bridge',
      mtu: 1400,
      mac: '02:42:ac:11:00:01',
      flags: { up: false },
    });
    expect(ip?.linkinfo?.['info_kind']).toBe('bridge');
  });

  it('creates a veth whose peer is born inside the container namespace', async () => {
    await driveOk([
      {
        op: 'createVeth',
        args: [{ name: 'veth0', peerName: 'eth0', mtu: 1400, peerMac: '0a:58:0a:00:00:02', peerNetns: ctr }],
      },
    ]);
    const peer = await ipLink('c1', 'eth0');
    expect(peer).toMatchObject({ ifname: 'eth0', mtu: 1400, address: '0a:58:0a:00:00:02' });
    expect(await ipLink('host', 'eth0')).toBeUndefined(); // never existed on the host side
    const host = (await one({ op: 'linkByName', args: ['veth0'] })) as Record<string, unknown>;
    expect(host).toMatchObject({ kind: 'veth', mtu: 1400, parentIndex: peer?.['ifindex'] });
    expect(host['linkNetnsId']).toEqual((await ipLink('host', 'veth0'))?.['link_netnsid']);
  });

  it('sets master, up, mtu, mac, hairpin and isolated, and reads them back', async () => {
    const [, , , link] = await driveOk([
      { op: 'setLink', args: [idx('veth0'), { masterIndex: idx('br0'), up: true, mtu: 1300 }] },
      { op: 'setMac', args: [idx('veth0'), '02:00:00:00:00:aa'] },
      { op: 'setBridgePort', args: [idx('veth0'), { hairpin: true, isolated: true }] },
      { op: 'linkByName', args: ['veth0'] },
    ]);
    const ip = await ipLink('host', 'veth0');
    const brIndex = (await ipLink('host', 'br0'))?.['ifindex'];
    expect(link).toMatchObject({
      masterIndex: brIndex,
      mtu: 1300,
      mac: '02:00:00:00:00:aa',
      flags: { up: true },
      slaveKind: 'bridge',
      bridgePort: { hairpin: true, isolated: true },
    });
    expect(ip).toMatchObject({ master: 'br0', mtu: 1300, address: '02:00:00:00:00:aa' });
    expect(ip?.['flags']).toContain('UP');
    expect(ip?.linkinfo?.['info_slave_data']).toMatchObject({ hairpin: true, isolated: true });

    await driveOk([{ op: 'setBridgePort', args: [idx('veth0'), { hairpin: false, isolated: false }] }]);
    expect((await ipLink('host', 'veth0'))?.linkinfo?.['info_slave_data']).toMatchObject({
      hairpin: false,
      isolated: false,
    });
  });

  it('sets promisc, allmulti, txqlen, name and nomaster', async () => {
    const [, , , link] = await driveOk([
      { op: 'setLink', args: [idx('veth0'), { promisc: true, allmulti: true, txqlen: 500 }] },
      { op: 'setMaster', args: [idx('veth0'), null] },
      { op: 'setName', args: [idx('veth0'), 'vethX'] }, // renaming an up link is allowed since 6.x
      { op: 'linkByName', args: ['vethX'] },
    ]);
    const ip = await ipLink('host', 'vethX');
    expect(ip?.['flags']).toEqual(expect.arrayContaining(['PROMISC', 'ALLMULTI']));
    expect(ip).toMatchObject({ txqlen: 500 });
    expect(ip?.['master']).toBeUndefined();
    expect(link).toMatchObject({ name: 'vethX', txqlen: 500, flags: { promisc: true, allmulti: true } });
    expect((link as Record<string, unknown>)['masterIndex']).toBeUndefined();
    await driveOk([{ op: 'setLink', args: [idx('vethX'), { name: 'veth0', promisc: false, allmulti: false }] }]);
  });

  it('lists links, and a socket opened inside the container sees the container', async () => {
    const [hostLinks, ctrLinks] = (await driveOk([{ op: 'links' }, { op: 'links', netns: ctr }])) as Array<
      Array<{ name: string; index: number }>
    >;
    const ipNames = (await ipJson('host', ['link', 'show'])).map((l) => l['ifname']);
    expect(hostLinks?.map((l) => l.name)).toEqual(ipNames);
    expect(ctrLinks?.map((l) => l.name).sort()).toEqual(['eth0', 'lo']);
  });

  it('creates a macvlan on a veth parent, on the host and born in the container', async () => {
    const [, , , mv] = await driveOk([
      { op: 'createVeth', args: [{ name: 'mvp0', peerName: 'mvp1' }] },
      { op: 'createMacvlan', args: [{ name: 'mv0', parentIndex: idx('mvp0'), mode: 'bridge' }] },
      { op: 'createMacvlan', args: [{ name: 'mv1', parentIndex: idx('mvp0'), mode: 'private', netns: ctr }] },
      { op: 'linkByName', args: ['mv0'] },
    ]);
    const parent = await ipLink('host', 'mvp0');
    expect(mv).toMatchObject({ kind: 'macvlan', macvlanMode: 'bridge', parentIndex: parent?.['ifindex'] });
    expect((await ipLink('host', 'mv0'))?.linkinfo?.['info_data']).toMatchObject({ mode: 'bridge' });
    expect((await ipLink('c1', 'mv1'))?.linkinfo?.['info_data']).toMatchObject({ mode: 'private' });
    expect(await ipLink('host', 'mv1')).toBeUndefined();
  });

  it('deletes links (the veth peer goes with it)', async () => {
    const [, gone] = await driveOk([
      { op: 'deleteLink', args: [idx('mvp0')] },
      { op: 'linkByName', args: ['mvp0'] },
    ]);
    expect(gone).toBeNull();
    expect(await ipLink('host', 'mvp1')).toBeUndefined();
    expect(await ipLink('host', 'mv0')).toBeUndefined(); // macvlans die with their parent
  });
});

describe('addresses and routes (inside the container)', () => {
  it('adds IPv4 and IPv6 addresses (nodad) and lists them with flags', async () => {
    const [, , , , addrs] = await driveOk(
      [
        { op: 'setUp', args: [idx('eth0')] },
        { op: 'addAddr', args: [idx('eth0'), '10.0.0.2/24'] },
        { op: 'addAddr', args: [idx('eth0'), 'fd00::2/64', { nodad: true }] },
        { op: 'addAddr', args: [idx('eth0'), 'fd00::3/64'] },
        { op: 'addrs', args: [{ index: idx('eth0') }] },
      ],
      'c1',
    );
    const list = addrs as Array<{ cidr: string; flags: Record<string, boolean>; broadcast?: string }>;
    const byCidr = new Map(list.map((a) => [a.cidr, a]));
    expect(byCidr.get('10.0.0.2/24')).toMatchObject({ broadcast: '10.0.0.255', flags: { permanent: true } });
    expect(byCidr.get('fd00::2/64')?.flags).toMatchObject({ nodad: true, tentative: false, permanent: true });
    // Without nodad the address waits for duplicate address detection (≥ 1 s).
    expect(byCidr.get('fd00::3/64')?.flags).toMatchObject({ nodad: false, tentative: true });

    const ip = (await ipJson('c1', ['addr', 'show', 'dev', 'eth0']))[0]?.['addr_info'] as Array<
      Record<string, unknown>
    >;
    const ipCidrs = ip.filter((a) => a['scope'] === 'global').map((a) => `${a['local']}/${a['prefixlen']}`);
    expect(list.filter((a) => !a.cidr.startsWith('fe80')).map((a) => a.cidr)).toEqual(ipCidrs);
    expect(ip.find((a) => a['local'] === 'fd00::2')?.['nodad']).toBe(true);
  });

  it('filters addresses by family', async () => {
    const v6 = (await one({ op: 'addrs', args: [{ family: 6, index: idx('eth0') }] }, 'c1')) as Array<{
      family: number;
    }>;
    expect(v6.length).toBeGreaterThan(0);
    expect(v6.every((a) => a.family === 6)).toBe(true);
  });

  it('adds, replaces and deletes routes, including default via a gateway', async () => {
    const [, , , , routes] = await driveOk(
      [
        { op: 'addRoute', args: [{ dst: 'default', gateway: '10.0.0.1', oif: idx('eth0') }] },
        { op: 'addRoute', args: [{ dst: '10.5.0.0/16', gateway: '10.0.0.1', metric: 50 }] },
        { op: 'addRoute', args: [{ dst: 'default', gateway: 'fd00::1' }] },
        { op: 'replaceRoute', args: [{ dst: '10.5.0.0/16', gateway: '10.0.0.3', metric: 50 }] },
        { op: 'routes', args: [{ family: 4 }] },
      ],
      'c1',
    );
    const eth0 = (await ipLink('c1', 'eth0'))?.['ifindex'];
    expect(routes).toEqual([
      expect.objectContaining({ dst: '0.0.0.0/0', gateway: '10.0.0.1', oif: eth0, table: 254 }),
      expect.objectContaining({ dst: '10.0.0.0/24', oif: eth0, scope: 253, src: '10.0.0.2' }),
      expect.objectContaining({ dst: '10.5.0.0/16', gateway: '10.0.0.3', metric: 50 }),
    ]);
    const ip4 = await ipJson('c1', ['route', 'show']);
    expect(ip4.map((r) => [r['dst'], r['gateway']])).toEqual([
      ['default', '10.0.0.1'],
      ['10.0.0.0/24', undefined],
      ['10.5.0.0/16', '10.0.0.3'],
    ]);
    const v6 = (await one({ op: 'routes', args: [{ family: 6 }] }, 'c1')) as Array<{ dst: string; gateway?: string }>;
    expect(v6).toEqual(expect.arrayContaining([expect.objectContaining({ dst: '::/0', gateway: 'fd00::1' })]));

    const [, again] = await drive(
      [
        { op: 'deleteRoute', args: [{ dst: '10.5.0.0/16' }] },
        { op: 'deleteRoute', args: [{ dst: '10.5.0.0/16' }] },
      ],
      'c1',
    );
    expect(again).toMatchObject({ ok: false, errno: 'ESRCH' });
    expect((await ipJson('c1', ['route', 'show'])).map((r) => r['dst'])).toEqual(['default', '10.0.0.0/24']);
  });

  it('deletes an address', async () => {
    const [, addrs] = await driveOk(
      [
        { op: 'deleteAddr', args: [idx('eth0'), '10.0.0.2/24'] },
        { op: 'addrs', args: [{ family: 4, index: idx('eth0') }] },
      ],
      'c1',
    );
    expect(addrs).toEqual([]);
  });
});

describe('policy routing rules (inside the container)', () => {
  it('adds rules by source to a table, lists them like ip rule, and deletes them', async () => {
    const [, , , rules] = await driveOk(
      [
        { op: 'addRule', args: [{ src: '10.0.0.2/32', table: 100 }] },
        { op: 'addRule', args: [{ src: 'fd00::2/128', table: 4000 }] },
        { op: 'addRoute', args: [{ dst: '10.9.0.0/16', oif: idx('eth0'), table: 100 }] },
        { op: 'rules', args: [{}] },
      ],
      'c1',
    );
    const list = rules as Array<{ family: number; src?: string; table: number; priority: number; action: number }>;
    const ours = list.filter((r) => r.src !== undefined);
    expect(ours).toEqual([
      expect.objectContaining({ family: 4, src: '10.0.0.2/32', table: 100, action: 1 }),
      expect.objectContaining({ family: 6, src: 'fd00::2/128', table: 4000, action: 1 }),
    ]);
    const ip4 = await ipJson('c1', ['-4', 'rule', 'show']);
    const mine = ip4.find((r) => r['src'] === '10.0.0.2');
    expect(mine).toMatchObject({ table: '100', priority: ours[0]?.priority });
    // Every default rule of both families is there too (local, main, default).
    expect(list.filter((r) => r.src === undefined).map((r) => r.table)).toEqual(
      expect.arrayContaining([255, 254, 253]),
    );
    expect(await one({ op: 'rules', args: [{ family: 6, table: 4000 }] }, 'c1')).toHaveLength(1);
    const [, gone] = await drive(
      [
        { op: 'deleteRule', args: [{ src: '10.0.0.2/32', table: 100, priority: ours[0]?.priority }] },
        { op: 'deleteRule', args: [{ src: '10.0.0.2/32', table: 100, priority: ours[0]?.priority }] },
        { op: 'deleteRule', args: [{ src: 'fd00::2/128', table: 4000 }] },
        { op: 'deleteRoute', args: [{ dst: '10.9.0.0/16', table: 100 }] },
      ],
      'c1',
    );
    expect(gone).toMatchObject({ ok: false, errno: 'ENOENT' });
    expect((await ipJson('c1', ['rule', 'show'])).filter((r) => r['src'] !== 'all' && r['src'])).toEqual([]);
    expect(await ipJson('c1', ['route', 'show', 'table', '100'])).toEqual([]);
  });
});

describe('vxlan, neighbours and the forwarding database', () => {
  const MAC = '0a:00:00:00:00:02';

  it('creates a vxlan device bound to an underlay link and reads its settings back like ip does', async () => {
    const [, , , , link] = await driveOk([
      { op: 'createVeth', args: [{ name: 'ul0', peerName: 'ul1' }] },
      { op: 'addAddr', args: [idx('ul0'), '192.0.2.1/24'] },
      { op: 'setUp', args: [idx('ul0')] },
      {
        op: 'createVxlan',
        args: [
          {
            name: 'vx0',
            vni: 42,
            port: 4789,
            local: '192.0.2.1',
            parentIndex: idx('ul0'),
            mtu: 1450,
            mac: '0a:00:00:00:00:01',
          },
        ],
      },
      { op: 'linkByName', args: ['vx0'] },
    ]);
    const ip = await ipLink('host', 'vx0');
    expect(link).toMatchObject({
      kind: 'vxlan',
      mtu: 1450,
      mac: '0a:00:00:00:00:01',
      vxlan: {
        vni: 42,
        port: 4789,
        local: '192.0.2.1',
        parentIndex: (await ipLink('host', 'ul0'))?.['ifindex'],
        learning: false,
      },
    });
    expect(ip?.linkinfo?.['info_data']).toMatchObject({
      id: 42,
      local: '192.0.2.1',
      link: 'ul0',
      port: 4789,
      learning: false,
    });
  });

  it('replaces permanent IPv4 and IPv6 neighbours and lists them per link', async () => {
    const [, , , , v4, v6] = await driveOk([
      { op: 'setUp', args: [idx('vx0')] },
      { op: 'replaceNeighbour', args: [idx('vx0'), '10.244.2.0', '0a:00:00:00:00:09'] },
      { op: 'replaceNeighbour', args: [idx('vx0'), '10.244.2.0', MAC] },
      { op: 'replaceNeighbour', args: [idx('vx0'), 'fd00:10:244:2::', MAC] },
      { op: 'neighbours', args: [{ family: 4, index: idx('vx0') }] },
      { op: 'neighbours', args: [{ family: 6, index: idx('vx0') }] },
    ]);
    expect(v4).toEqual([expect.objectContaining({ address: '10.244.2.0', mac: MAC, permanent: true })]);
    expect((v6 as Array<{ address: string }>).filter((n) => n.address === 'fd00:10:244:2::')).toEqual([
      expect.objectContaining({ mac: MAC, permanent: true }),
    ]);
    const ip = await ipJson('host', ['neigh', 'show', 'dev', 'vx0', 'nud', 'permanent']);
    expect(ip.map((n) => [n['dst'], n['lladdr']]).sort()).toEqual([
      ['10.244.2.0', MAC],
      ['fd00:10:244:2::', MAC],
    ]);
  });

  it('replaces an FDB entry (MAC to tunnel endpoint) and lists the device table like bridge does', async () => {
    const [, , fdb] = await driveOk([
      { op: 'replaceFdb', args: [idx('vx0'), MAC, '192.0.2.99'] },
      { op: 'replaceFdb', args: [idx('vx0'), MAC, '192.0.2.13'] },
      { op: 'fdb', args: [idx('vx0')] },
    ]);
    expect(fdb).toEqual([expect.objectContaining({ mac: MAC, dst: '192.0.2.13', permanent: true })]);
    const br = (await sb.exec('host', ['bridge', '-j', 'fdb', 'show', 'dev', 'vx0'])).json as Array<
      Record<string, unknown>
    >;
    expect(br.map((e) => [e['mac'], e['dst']])).toEqual([[MAC, '192.0.2.13']]);
    expect(br[0]?.['flags']).toContain('self');
  });

  it('adds on-link routes through the device for both families', async () => {
    const [, , v4, v6] = await driveOk([
      {
        op: 'replaceRoute',
        args: [{ dst: '10.244.2.0/24', gateway: '10.244.2.0', oif: idx('vx0'), onlink: true, protocol: 116 }],
      },
      {
        op: 'replaceRoute',
        args: [{ dst: 'fd00:10:244:2::/64', gateway: 'fd00:10:244:2::', oif: idx('vx0'), onlink: true, protocol: 116 }],
      },
      { op: 'routes', args: [{ family: 4, oif: idx('vx0') }] },
      { op: 'routes', args: [{ family: 6, oif: idx('vx0') }] },
    ]);
    expect(v4).toEqual([expect.objectContaining({ dst: '10.244.2.0/24', gateway: '10.244.2.0', protocol: 116 })]);
    expect(v6).toEqual(
      expect.arrayContaining([expect.objectContaining({ dst: 'fd00:10:244:2::/64', gateway: 'fd00:10:244:2::' })]),
    );
    const ip = await ipJson('host', ['route', 'show', 'dev', 'vx0']);
    expect(ip).toEqual([expect.objectContaining({ dst: '10.244.2.0/24', gateway: '10.244.2.0', flags: ['onlink'] })]);
  });

  it('an IPv6 underlay: local address, and FDB entries to IPv6 tunnel endpoints', async () => {
    const [, , link, , fdb] = await driveOk([
      { op: 'addAddr', args: [idx('ul0'), 'fd00:99::1/64', { nodad: true }] },
      {
        op: 'createVxlan',
        args: [{ name: 'vx6', vni: 7, port: 4789, local: 'fd00:99::1', parentIndex: idx('ul0'), mtu: 1430 }],
      },
      { op: 'linkByName', args: ['vx6'] },
      { op: 'replaceFdb', args: [idx('vx6'), MAC, 'fd00:99::13'] },
      { op: 'fdb', args: [idx('vx6')] },
      { op: 'deleteLink', args: [idx('vx6')] },
    ]);
    expect(link).toMatchObject({ mtu: 1430, vxlan: { vni: 7, local: 'fd00:99::1', learning: false } });
    expect(fdb).toEqual([expect.objectContaining({ mac: MAC, dst: 'fd00:99::13' })]);
  });

  it('deletes neighbours and FDB entries; deleting one twice is ENOENT', async () => {
    const res = await drive([
      { op: 'deleteFdb', args: [idx('vx0'), MAC, '192.0.2.13'] },
      { op: 'deleteNeighbour', args: [idx('vx0'), '10.244.2.0'] },
      { op: 'deleteNeighbour', args: [idx('vx0'), '10.244.2.0'] },
      { op: 'fdb', args: [idx('vx0')] },
      { op: 'neighbours', args: [{ family: 4, index: idx('vx0') }] },
    ]);
    expect(res.slice(0, 2)).toEqual([
      { ok: true, value: null },
      { ok: true, value: null },
    ]);
    expect(res[2]).toMatchObject({ ok: false, errno: 'ENOENT' });
    expect(res[3]).toEqual({ ok: true, value: [] });
    expect(res[4]).toEqual({ ok: true, value: [] });
    await driveOk([{ op: 'deleteLink', args: [idx('ul0')] }]);
    // A vxlan device bound to a link goes with it (the installer's next round makes it again).
    expect(await ipLink('host', 'vx0')).toBeUndefined();
  });
});

describe('errors', () => {
  it('answers undefined for a missing link, and ENODEV when changing one', async () => {
    const res = await drive([
      { op: 'linkByName', args: ['nope0'] },
      { op: 'linkByIndex', args: [999999] },
      { op: 'deleteLink', args: [999999] },
      { op: 'setUp', args: [999999] },
    ]);
    expect(res[0]).toEqual({ ok: true, value: null });
    expect(res[1]).toEqual({ ok: true, value: null });
    expect(res[2]).toMatchObject({
      ok: false,
      errno: 'ENODEV',
      message: expect.stringContaining('RTM_DELLINK index=999999'),
    });
    expect(res[3]).toMatchObject({ ok: false, errno: 'ENODEV' });
  });

  it('EEXIST for a duplicate link, address and route, with the kernel text when it gives one', async () => {
    expect(await fail({ op: 'createBridge', args: [{ name: 'br0' }] })).toMatchObject({
      errno: 'EEXIST',
      message: 'netlink RTM_NEWLINK create excl bridge name=br0: File exists (EEXIST)',
    });
    await driveOk([{ op: 'addAddr', args: [idx('eth0'), '10.0.0.2/24'] }], 'c1');
    expect(await fail({ op: 'addAddr', args: [idx('eth0'), '10.0.0.2/24'] }, 'c1')).toMatchObject({
      errno: 'EEXIST',
      extack: 'ipv4: Address already assigned',
    });
    const [first, second] = await drive(
      [
        { op: 'addRoute', args: [{ dst: '10.6.0.0/16', gateway: '10.0.0.1' }] },
        { op: 'addRoute', args: [{ dst: '10.6.0.0/16', gateway: '10.0.0.1' }] },
      ],
      'c1',
    );
    expect(first).toEqual({ ok: true, value: null });
    expect(second).toMatchObject({ ok: false, errno: 'EEXIST' });
  });

  // This kernel has neither ipvlan nor 8021q; where a kernel has them, the links must work instead.
  it.each([
    ['ipvlan', 'createIpvlan', { name: 'ipv0', parentIndex: idx('br0'), mode: 'l2' }, 'ipvlanMode', 'l2'],
    ['vlan', 'createVlan', { name: 'vl0', parentIndex: idx('br0'), id: 42 }, 'vlanId', 42],
  ])('%s: created, or refused readably when the kernel lacks the kind', async (kind, op, opts, field, value) => {
    const probe = await sb.exec('host', ['ip', 'link', 'add', 'probe0', 'link', 'br0', 'type', kind]);
    if (probe.code === 0) await sb.exec('host', ['ip', 'link', 'del', 'probe0']);
    const [res, link] = await drive([
      { op, args: [opts] },
      { op: 'linkByName', args: [opts.name] },
    ]);
    if (probe.code === 0) {
      expect(res).toMatchObject({ ok: true });
      expect(link).toMatchObject({ ok: true, value: { kind, [field]: value } });
    } else {
      expect(res).toMatchObject({ ok: false, errno: 'EOPNOTSUPP', extack: 'Unknown device type' });
      expect((res as Fail).message).toMatch(
        new RegExp(
          `^netlink RTM_NEWLINK create excl ${kind} name=\\S+ link=\\d+ .*: Operation not supported \\(EOPNOTSUPP\\): Unknown device type$`,
        ),
      );
    }
  });
});

describe('nf_tables (NETLINK_NETFILTER)', () => {
  it('tells whether a table exists, per family, as nft sees it', async () => {
    requireProgram('nft');
    const exists = (family: string, name: string): Step => ({ op: 'nftTableExists', args: [family, name] });
    const nft = async (...argv: string[]): Promise<void> => {
      const r = await sb.exec('host', ['nft', ...argv]);
      if (r.code !== 0) throw new Error(`nft ${argv.join(' ')}: ${r.stderr}`);
    };
    expect(await driveOk([exists('inet', 'tscni_t_probe'), exists('ip', 'tscni_t_probe')])).toEqual([false, false]);
    await nft('add', 'table', 'inet', 'tscni_t_probe');
    expect(await driveOk([exists('inet', 'tscni_t_probe'), exists('ip', 'tscni_t_probe')])).toEqual([true, false]);
    // Per namespace: the container's namespace has no such table.
    expect(await one(exists('inet', 'tscni_t_probe'), 'c1')).toBe(false);
    await nft('delete', 'table', 'inet', 'tscni_t_probe');
    expect(await one(exists('inet', 'tscni_t_probe'))).toBe(false);
  });
});

describe('network namespace switch', () => {
  it('writes a container sysctl while switched, then is back in its own namespace', async () => {
    const home = await nsInodeOf('host');
    const container = await nsInodeOf('c1');
    expect(container).not.toBe(home);
    const before = (await sb.exec('c1', ['cat', '/proc/sys/net/ipv4/conf/eth0/arp_notify'])).stdout.trim();
    expect(before).toBe('0');
    const [start, written, after] = await driveOk([
      { op: 'nsInode' },
      { op: 'writeInNetns', args: [ctr, '/proc/sys/net/ipv4/conf/eth0/arp_notify', '1'] },
      { op: 'nsInode' },
    ]);
    expect(start).toBe(home);
    expect(written).toEqual({ inode: container, readBack: '1' });
    expect(after).toBe(home);
    expect((await sb.exec('c1', ['cat', '/proc/sys/net/ipv4/conf/eth0/arp_notify'])).stdout.trim()).toBe('1');
    // The sandbox host has no eth0: the write did not land there.
    expect((await sb.exec('host', ['ls', '/proc/sys/net/ipv4/conf'])).stdout).not.toMatch(/\beth0\b/);
  });

  it('switches back when the callback throws, and refuses a missing namespace', async () => {
    const home = await nsInodeOf('host');
    const [thrown, after, missing, last] = await drive([
      { op: 'throwInNetns', args: [ctr] },
      { op: 'nsInode' },
      { op: 'readInNetns', args: [join(sb.dir, 'no-such-netns'), '/proc/sys/net/ipv4/ip_forward'] },
      { op: 'nsInode' },
    ]);
    expect(thrown).toEqual({ ok: false, message: 'thrown inside' });
    expect(after).toEqual({ ok: true, value: home });
    expect(missing).toMatchObject({ ok: false, message: expect.stringContaining('no-such-netns') });
    expect(last).toEqual({ ok: true, value: home });
  });
});

describe('timings (compiled executable)', () => {
  it('measures FFI dlopen, lookups and veth creation against exec of ip', async () => {
    await sb.addContainer('bench');
    const [b] = (await driveOk([{ op: 'bench', args: [50] }], 'bench')) as Array<Record<string, number>>;
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) await driveOk([{ op: 'linkByName', args: ['lo'] }], 'bench');
    const driverRun = (performance.now() - t0) / 10;
    const t1 = performance.now();
    for (let i = 0; i < 10; i++) await runOk(['ip', 'netns', 'exec', sb.nsName('bench'), 'ip', 'link', 'show', 'lo']);
    const ipRun = (performance.now() - t1) / 10;
    process.stdout.write(
      `netlink timings: ${JSON.stringify({ ...b, wholeDriverRunMs: driverRun, wholeIpRunMs: ipRun })}\n`,
    );
    expect(b?.['linkLookupMs']).toBeLessThan(b?.['ipLinkShowExecMs'] ?? 0);
    expect(b?.['vethCreateMs']).toBeLessThan(b?.['ipLinkAddVethExecMs'] ?? 0);
  });

  it("sets up and tears down bandwidth's traffic control faster over netlink than by exec'ing ip and tc", async () => {
    await sb.addContainer('tcbench');
    await sb.exec('tcbench', ['ip', 'link', 'add', 'bva', 'type', 'veth', 'peer', 'name', 'bvb']);
    await sb.exec('tcbench', ['ip', 'link', 'set', 'bva', 'up']);
    const [b] = (await driveOk([{ op: 'tcBench', args: [30] }], 'tcbench')) as Array<Record<string, number>>;
    process.stdout.write(`tc timings: ${JSON.stringify(b)}\n`);
    expect(b?.['netlinkSetupMs']).toBeLessThan(b?.['tcExecSetupMs'] ?? 0);
    expect(b?.['netlinkTeardownMs']).toBeLessThan(b?.['tcExecTeardownMs'] ?? 0);
  });
});
