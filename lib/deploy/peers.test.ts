/**
 * The way to the other nodes' pods: plans per backend pinned as golden files, and the sync
 * against an in-memory node namespace (what it changes, that a second sync changes nothing, and
 * that a node leaving, a MAC changing, an incompatible device and a backend switch are handled).
 */
import { describe, expect, it } from '@jest/globals';
import { expectGolden } from '../testutil/golden';
import { FakeNodeNet } from '../testutil/node-net';
import type { NodeInfo } from './kube';
import { VXLAN_DEFAULTS, type Backend } from './options';
import { planPeers, publishedVtep, readFacts, syncPeers, type PeerInput, type PeerPlan } from './peers';
import { MAC_ANNOTATION, VTEP_ANNOTATION, overheadOf, vtepMac } from './vxlan';

const node = (
  name: string,
  i: number,
  o: { subnet?: string; v6?: boolean; published?: boolean; podV6?: boolean } = {},
): NodeInfo => {
  const ip = `${o.subnet ?? '172.18.0'}.1${i}`;
  return {
    name,
    podCidrs: [`10.244.${i}.0/24`, ...(o.podV6 === false ? [] : [`fd00:10:244:${i}::/64`])],
    internalIps: [ip, ...(o.v6 ? [`fc00::1${i}`] : [])],
    ...(o.published === false ? {} : { annotations: { [MAC_ANNOTATION]: vtepMac(name), [VTEP_ANNOTATION]: ip } }),
  };
};

/** node1 and node2 share 172.18.0.0/24, node3 is behind a router in 172.19.0.0/24. */
const cluster = (): NodeInfo[] => [node('node1', 1), node('node2', 2), node('node3', 3, { subnet: '172.19.0' })];

const input = (backend: Backend, nodes = cluster(), self = 'node1'): PeerInput => ({
  backend,
  vxlan: VXLAN_DEFAULTS,
  self: nodes.find((n) => n.name === self) ?? nodes[0]!,
  nodes,
});

/** node1's namespace: eth0 with its InternalIP, node2 on-link. */
function nodeNet(): FakeNodeNet {
  const k = new FakeNodeNet();
  k.addLink('eth0', 1500, ['172.18.0.11/24']);
  k.onLink.add('172.18.0.12');
  return k;
}

const planText = (p: PeerPlan): string => JSON.stringify(p, null, 2);

describe('planPeers', () => {
  it.each<Backend>(['routes', 'vxlan', 'auto'])('%s (golden)', (backend) => {
    const k = nodeNet();
    const i = input(backend);
    expectGolden(__dirname, `peers-${backend}`, planText(planPeers(i, readFacts(k, i))));
  });

  it('vxlan: dual-stack pods over an IPv4 underlay go through one device, one FDB entry per node', () => {
    const k = nodeNet();
    const i = input('vxlan');
    const p = planPeers(i, readFacts(k, i));
    expect(p.device).toMatchObject({
      local: '172.18.0.11',
      mtu: 1450,
      addresses: ['10.244.1.0/32', 'fd00:10:244:1::/128'],
    });
    expect(p.routes.filter((r) => r.node === 'node3').map((r) => `${r.dst} via ${r.gateway} dev ${r.device}`)).toEqual([
      '10.244.3.0/24 via 10.244.3.0 dev tscni.vxlan',
      'fd00:10:244:3::/64 via fd00:10:244:3:: dev tscni.vxlan',
    ]);
    expect(p.fdb).toEqual([
      { mac: vtepMac('node2'), dst: '172.18.0.12', node: 'node2' },
      { mac: vtepMac('node3'), dst: '172.19.0.13', node: 'node3' },
    ]);
    expect(p.podMtu).toBe(1450);
  });

  it('auto: same-subnet peers direct, the rest (and IPv6 without an IPv6 InternalIP) through VXLAN', () => {
    const k = nodeNet();
    const i = input('auto');
    const p = planPeers(i, readFacts(k, i));
    const text = p.routes.map((r) => `${r.dst} via ${r.gateway}${r.device ? ' vxlan' : ''}`);
    expect(text).toEqual([
      '10.244.2.0/24 via 172.18.0.12',
      '10.244.3.0/24 via 10.244.3.0 vxlan',
      'fd00:10:244:2::/64 via fd00:10:244:2:: vxlan',
      'fd00:10:244:3::/64 via fd00:10:244:3:: vxlan',
    ]);
    // The MTU is lowered for every pod: a pod never knows which path a peer takes.
    expect(p.podMtu).toBe(1450);
  });

  it('an IPv6 underlay costs 70 bytes', () => {
    const nodes = [1, 2].map((i) => ({
      name: `n${i}`,
      podCidrs: [`fd00:10:244:${i}::/64`],
      internalIps: [`fc00::${i}`],
      annotations: { [MAC_ANNOTATION]: vtepMac(`n${i}`) },
    }));
    const k = new FakeNodeNet();
    k.addLink('eth0', 9000, ['fc00::1/64']);
    const i = { ...input('vxlan', nodes, 'n1') };
    const p = planPeers(i, readFacts(k, i));
    expect(overheadOf(6)).toBe(70);
    expect(p.podMtu).toBe(8930);
    expect(p.fdb).toEqual([{ mac: vtepMac('n2'), dst: 'fc00::2', node: 'n2' }]);
  });

  it('leaves out a node that has not published its MAC, or published garbage, and says so', () => {
    const nodes = [
      node('node1', 1),
      node('node2', 2, { published: false }),
      { ...node('node3', 3), annotations: { [MAC_ANNOTATION]: '01:00:5e:00:00:01', [VTEP_ANNOTATION]: 'x' } },
    ];
    const k = nodeNet();
    const i = input('vxlan', nodes);
    const p = planPeers(i, readFacts(k, i));
    expect(p.routes).toEqual([]);
    expect(p.notes).toEqual([
      `node node2: no VXLAN MAC published (${MAC_ANNOTATION}) yet; 10.244.2.0/24 left out`,
      `node node2: no VXLAN MAC published (${MAC_ANNOTATION}) yet; fd00:10:244:2::/64 left out`,
      `node node3: no VXLAN MAC published (${MAC_ANNOTATION}) yet; 10.244.3.0/24 left out`,
      `node node3: no VXLAN MAC published (${MAC_ANNOTATION}) yet; fd00:10:244:3::/64 left out`,
    ]);
    // A VTEP annotation that is not an address of the underlay family falls back to the InternalIP.
    expect(publishedVtep(nodes[2]!, 4).vtep).toBe('172.18.0.13');
  });

  it('refuses vxlan without an InternalIP on a link of this node', () => {
    const k = new FakeNodeNet();
    k.addLink('eth0', 1500, ['10.9.9.9/24']);
    const i = input('vxlan');
    expect(() => planPeers(i, readFacts(k, i))).toThrow('no link of this node holds its InternalIP 172.18.0.11');
  });

  it('derives the MAC from the node name: stable, unicast, locally administered', () => {
    expect(vtepMac('node1')).toBe(vtepMac('node1'));
    expect(vtepMac('node1')).not.toBe(vtepMac('node2'));
    const first = parseInt(vtepMac('kind-worker').slice(0, 2), 16);
    expect(first & 1).toBe(0);
    expect(first & 2).toBe(2);
  });
});

describe('syncPeers', () => {
  const sync = (k: FakeNodeNet, backend: Backend, nodes = cluster()): string[] => {
    const i = input(backend, nodes);
    return syncPeers(k, planPeers(i, readFacts(k, i)), VXLAN_DEFAULTS.device).lines;
  };

  it('vxlan: device, neighbours and FDB before routes; a second sync changes nothing', () => {
    const k = nodeNet();
    sync(k, 'vxlan');
    expectGolden(__dirname, 'peers-sync-vxlan', k.take().join('\n'));
    expect(sync(k, 'vxlan')).toEqual([]);
    expect(k.take()).toEqual([]);
  });

  it('a node that left: its routes go first, then its neighbours and FDB entry', () => {
    const k = nodeNet();
    sync(k, 'vxlan');
    k.take();
    const lines = sync(k, 'vxlan', cluster().slice(0, 2));
    expect(k.take()).toEqual([
      'delete route 10.244.3.0/24 proto 116',
      'delete route fd00:10:244:3::/64 proto 116',
      'delete neighbour 10.244.3.0',
      'delete neighbour fd00:10:244:3::',
      `delete fdb ${vtepMac('node3')} dst 172.19.0.13`,
    ]);
    expect(lines).toContain('route 10.244.3.0/24: removed');
  });

  it('a node whose address changed gets its FDB entry replaced, nothing else', () => {
    const k = nodeNet();
    sync(k, 'vxlan');
    k.take();
    const moved = cluster().map((n) =>
      n.name === 'node3'
        ? { ...n, internalIps: ['172.19.0.99'], annotations: { ...n.annotations, [VTEP_ANNOTATION]: '172.19.0.99' } }
        : n,
    );
    sync(k, 'vxlan', moved);
    expect(k.take()).toEqual([`replace fdb ${vtepMac('node3')} dst 172.19.0.99`]);
  });

  it('keeps a compatible device (MAC and MTU fixed in place), recreates one with another VNI', () => {
    const k = nodeNet();
    sync(k, 'vxlan');
    const dev = k.linkByName('tscni.vxlan')!;
    dev.mtu = 1400;
    dev.mac = '02:00:00:00:00:01';
    k.take();
    expect(sync(k, 'vxlan')[0]).toMatch(/: updated \(mac .*, mtu 1450\)$/);
    dev.vxlan = { ...dev.vxlan!, vni: 7 };
    k.take();
    const lines = sync(k, 'vxlan');
    expect(lines[0]).toMatch(/: recreated \(VNI 7, not 1\)$/);
    expect(k.take().slice(0, 2)).toEqual([
      'delete link tscni.vxlan',
      expect.stringMatching(/^create vxlan tscni.vxlan vni 1 /),
    ]);
  });

  it('refuses to touch a link of ours by name that is not a VXLAN device', () => {
    const k = nodeNet();
    k.addLink('tscni.vxlan', 1500);
    expect(() => sync(k, 'vxlan')).toThrow(/exists and is a physical link, not our VXLAN device/);
  });

  it('switching to auto turns same-subnet VXLAN routes into direct ones; to routes removes the device', () => {
    const k = nodeNet();
    sync(k, 'vxlan');
    k.take();
    sync(k, 'auto');
    expect(k.take()).toEqual(['replace route 10.244.2.0/24 via 172.18.0.12 proto 116', 'delete neighbour 10.244.2.0']);
    const lines = sync(k, 'routes');
    expect(lines[0]).toBe('vxlan tscni.vxlan: removed (backend routes)');
    expect(k.table.map((r) => `${r.dst} via ${r.gateway}`)).toEqual([
      '10.244.2.0/24 via 172.18.0.12',
      '10.244.3.0/24 via 172.19.0.13',
    ]);
  });
});
