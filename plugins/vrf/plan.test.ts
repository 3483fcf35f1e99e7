/**
 * vrf's verbs against a recording kernel (no root), as golden text: the VRF created with a free
 * table, the interface moved in with its IPv6 address and routes carried over; the rollback when
 * a route cannot be carried; the missing link type; DEL. This project's test kernel has no VRF,
 * so these lines are the proof of what a kernel with VRF is sent.
 */
import { describe, expect, it } from '@jest/globals';
import { RT_SCOPE_LINK } from '../../lib/netlink/constants';
import { cannedLink, RecordingSocket, reply, type Responder } from '../../lib/netlink/fake';
import type { FakeKernelOptions } from '../../lib/testutil/fake-kernel';
import { expectGolden } from '../../lib/testutil/golden';
import { addrMessage, routeMessage } from '../../lib/testutil/netlink-replies';
import { runPlan, type PlanRun } from '../../lib/testutil/plan-call';
import { add } from './add';
import { check } from './check';
import { del } from './del';

const ETH0 = { index: 3, name: 'eth0', kind: 'veth', mac: '0a:00:00:00:00:03', up: true } as const;
const BLUE = { index: 10, name: 'blue', kind: 'vrf', vrfTable: 2, up: true } as const;
const RED = { index: 11, name: 'red', kind: 'vrf', vrfTable: 1 } as const;
const prevResult = (netns: string): object => ({
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', mac: '0a:00:00:00:00:03', sandbox: netns }],
  ips: [
    { interface: 0, address: '10.0.0.5/24', gateway: '10.0.0.1' },
    { interface: 0, address: 'fd00::5/64' },
  ],
});
const conf =
  (extra: object = {}) =>
  (netns: string) => ({
    cniVersion: '1.0.0',
    name: 'vrfnet',
    type: 'vrf',
    vrfname: 'blue',
    prevResult: prevResult(netns),
    ...extra,
  });
const run = (verb: string, config: Parameters<typeof runPlan>[2], o: FakeKernelOptions = {}): Promise<PlanRun> =>
  runPlan({ add, del, check }, verb, config, o);

/** The kernel's answers from the VRF's creation up to the interface's move into it. */
const untilEnslaved = (): Responder[] => [
  reply.error('ENODEV'), // no VRF blue yet
  reply.dump([cannedLink(ETH0), cannedLink(RED)]), // tables in use
  reply.ack(), // VRF created
  reply.messages(cannedLink(BLUE)),
  reply.ack(), // up
  reply.messages(cannedLink(ETH0)),
  reply.dump([addrMessage(3, 'fd00::5/64'), addrMessage(3, 'fe80::5/64', { scope: RT_SCOPE_LINK })]),
  reply.dump([
    routeMessage({ dst: '0.0.0.0/0', gateway: '10.0.0.1', oif: 3 }),
    routeMessage({ dst: '10.0.0.0/24', oif: 3, scope: RT_SCOPE_LINK, protocol: 2 }),
    routeMessage({ dst: '10.77.0.0/16', gateway: '10.0.0.254', oif: 3 }),
    routeMessage({ dst: 'fd00::/64', oif: 3, protocol: 2 }),
    routeMessage({ dst: '192.168.9.0/24', oif: 9 }),
  ]),
  reply.ack(), // enslaved
  reply.dump([]), // the IPv6 address went with the down/up
  reply.ack(), // address restored
];

describe('vrf ADD plan', () => {
  it('creates the VRF (free table 2), moves eth0 in, restores its IPv6 address, replays its routes', async () => {
    const ctr = new RecordingSocket().respond(
      ...untilEnslaved(),
      reply.dump([routeMessage({ dst: 'fd00::5/128', oif: 3, table: 2, type: 2 })]), // local route is there
    );
    const { out, plan, netns } = await run('ADD', conf(), { ctr });
    expect(out.json['msg']).toBeUndefined();
    expect(out.json).toEqual({ ...prevResult(netns), ips: expect.any(Array) });
    expectGolden(__dirname, 'add-new-vrf', plan);
  });

  it('an existing VRF is joined as it is; a different table is the reference error', async () => {
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink(BLUE)));
    const { out } = await run('ADD', conf({ table: 7 }), { ctr });
    expect(out.json).toMatchObject({
      code: 999,
      msg: 'cmdAdd failed: VRF blue already exist with different routing table 2',
    });
  });

  it('an interface with a master already is refused, nothing changed', async () => {
    const ctr = new RecordingSocket().respond(
      reply.messages(cannedLink(BLUE)),
      reply.messages(cannedLink({ ...ETH0, masterIndex: 20 })),
      reply.messages(cannedLink({ index: 20, name: 'br9', kind: 'bridge' })),
    );
    const { out, plan } = await run('ADD', conf(), { ctr });
    expect(out.json).toMatchObject({ msg: 'cmdAdd failed: interface eth0 has already a master set: br9' });
    expect(plan).not.toMatch(/RTM_SETLINK|RTM_NEWLINK|RTM_DELLINK/);
  });

  it('a kernel without VRF: the missing link type named, nothing left', async () => {
    // With a configured table there is no search for a free one.
    const ctr = new RecordingSocket().respond(reply.error('ENODEV'), reply.error('EOPNOTSUPP'));
    const { out, plan } = await run('ADD', conf({ table: 100 }), { ctr });
    expect(out.json).toMatchObject({
      code: 999,
      msg: 'cmdAdd failed: could not add VRF blue: this kernel has no VRF links (CONFIG_NET_VRF)',
      details: expect.stringMatching(/EOPNOTSUPP/),
    });
    expectGolden(__dirname, 'add-no-vrf', plan);
  });

  it('a route that cannot be carried over rolls everything back: out of the VRF, routes and address back, VRF deleted', async () => {
    const ctr = new RecordingSocket().respond(
      ...untilEnslaved(),
      reply.dump([routeMessage({ dst: 'fd00::5/128', oif: 3, table: 2, type: 2 })]),
      reply.error('ENETUNREACH', 'injected'), // first replayed route
      reply.ack(), // out of the VRF
      reply.dump([]), // the address went again
      reply.ack(), // restored
      reply.ack(), // routes back in main
      reply.ack(),
      reply.ack(),
      reply.dump([cannedLink(ETH0), cannedLink(BLUE)]), // the VRF has no ports left
    );
    const { out, plan } = await run('ADD', conf(), { ctr });
    expect(out.json).toMatchObject({
      code: 999,
      msg: "cmdAdd failed: could not add route '0.0.0.0/0 via 10.0.0.1' to table 2",
    });
    expectGolden(__dirname, 'add-rollback', plan);
  });

  it('without prevResult: the reference message, code 7', async () => {
    const { out } = await run('ADD', { cniVersion: '1.0.0', name: 'vrfnet', type: 'vrf', vrfname: 'blue' });
    expect(out.json).toMatchObject({ code: 7, msg: 'missing prevResult from earlier plugin' });
  });
});

describe('vrf DEL plan', () => {
  it('eth0 leaves the VRF; the VRF goes with its last port', async () => {
    const ctr = new RecordingSocket().respond(
      reply.messages(cannedLink(BLUE)),
      reply.messages(cannedLink({ ...ETH0, masterIndex: 10 })),
      reply.ack(),
      reply.dump([cannedLink(ETH0), cannedLink(BLUE)]),
    );
    const { out, plan } = await run('DEL', conf(), { ctr });
    expect(out.code).toBe(0);
    expectGolden(__dirname, 'del', plan);
  });

  it('a VRF that keeps another port stays; a gone interface is fine', async () => {
    const ctr = new RecordingSocket().respond(
      reply.messages(cannedLink(BLUE)),
      reply.error('ENODEV'),
      reply.dump([cannedLink({ index: 4, name: 'net1', masterIndex: 10 }), cannedLink(BLUE)]),
    );
    const { out, plan } = await run('DEL', conf(), { ctr });
    expect(out.code).toBe(0);
    expect(plan).not.toMatch(/RTM_SETLINK|RTM_DELLINK/);
  });
});

describe('vrf CHECK', () => {
  it('passes when eth0 is a port of the VRF; fails when not', async () => {
    const ports = (master: number): FakeKernelOptions => ({
      ctr: new RecordingSocket().respond(
        reply.messages(cannedLink(BLUE)),
        reply.dump([cannedLink({ ...ETH0, masterIndex: master }), cannedLink(BLUE)]),
      ),
    });
    expect((await run('CHECK', conf(), ports(10))).out.code).toBe(0);
    const out = (await run('CHECK', conf(), ports(0))).out;
    expect(out.json).toMatchObject({ code: 999, msg: 'failed to find eth0 associated to vrf blue' });
  });
});
