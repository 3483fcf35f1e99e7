/**
 * bandwidth's verbs against recording fakes (no root): every netlink request in the host and the
 * container namespace, as golden text. A change to what bandwidth asks of the kernel shows up
 * as a diff in review (`make golden` rewrites the files).
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Kernel } from '../../lib/net/kernel';
import { tcHandle } from '../../lib/netlink';
import { TC_H_INGRESS_HANDLE, TC_H_ROOT, ETH_P_ALL } from '../../lib/netlink/constants';
import { cannedFilter, cannedLink, cannedQdisc, RecordingSocket, reply } from '../../lib/netlink/fake';
import { fakeKernel as recordingKernel, planDir, type PlanDir } from '../../lib/testutil/fake-kernel';
import { expectGolden } from '../../lib/testutil/golden';
import { callVerb } from '../../lib/testutil/verbs';
import { add } from './add';
import { check } from './check';
import { del } from './del';
import { gc } from './gc';
import { ifbAlias, ifbName } from './names';

const NET = 'bwnet';
const ID = 'c1';
const IFB = ifbName(NET, ID);
const HOST_VETH = 'veth0a1b2c3d';

/** A Kernel whose sockets are recorded: `host` and `ctr` answer in order. */
const fakeKernel = (host: RecordingSocket, ctr: RecordingSocket): Kernel => recordingKernel({ host, ctr }).kernel;

const PREV = {
  cniVersion: '1.0.0',
  interfaces: [
    { name: 'cni0', mac: '0a:00:00:00:00:01' },
    { name: HOST_VETH, mac: '0a:00:00:00:00:02' },
    { name: 'eth0', mac: '0a:00:00:00:00:03', sandbox: '/run/netns/c1' },
  ],
  ips: [{ interface: 2, address: '10.10.0.2/24', gateway: '10.10.0.1' }],
};
const LIMITS = { ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 8_000_000, egressBurst: 80_000 };
const conf = (extra: object = {}): object => ({
  cniVersion: '1.0.0',
  name: NET,
  type: 'bandwidth',
  ...LIMITS,
  prevResult: PREV,
  ...extra,
});

/** The container's eth0 (index 3) and its host peer (index 7): what every lookup answers. */
const ctrEth0 = cannedLink({ index: 3, name: 'eth0', kind: 'veth', parentIndex: 7 });
const hostVeth = cannedLink({ index: 7, name: HOST_VETH, kind: 'veth', parentIndex: 3, mtu: 1450 });
const ifbLink = cannedLink({
  index: 9,
  name: IFB,
  kind: 'ifb',
  mac: '0a:00:00:00:00:09',
  alias: ifbAlias(NET, HOST_VETH),
});

const plan = (host: RecordingSocket, ctr: RecordingSocket): string =>
  ['# host netlink', ...host.requests, '# container netlink', ...ctr.requests].join('\n');

let files: PlanDir;
beforeEach(() => {
  files = planDir();
});
afterEach(() => files.remove());

describe('bandwidth ADD plan', () => {
  it('both directions: root tbf on the veth, the ifb with its tbf, the redirect; the ifb joins the result', async () => {
    const host = new RecordingSocket().respond(
      reply.messages(hostVeth), // the peer by index
      reply.ack(), // root tbf
      reply.ack(), // ifb created
      reply.messages(ifbLink),
    );
    const ctr = new RecordingSocket().respond(reply.messages(ctrEth0));
    const out = await callVerb({ add: (inv) => add(inv, fakeKernel(host, ctr)) }, 'ADD', conf(), {
      id: ID,
      netns: files.netns,
    });
    expect(out.json['msg']).toBeUndefined();
    expect(out.json['interfaces']).toEqual([...PREV.interfaces, { name: IFB, mac: '0a:00:00:00:00:09' }]);
    expectGolden(__dirname, 'add', plan(host, ctr));
  });

  it('unshapedSubnets: an HTB tree towards the container, the unshaped peers passed before the redirect', async () => {
    const host = new RecordingSocket().respond(
      reply.messages(hostVeth),
      ...Array<ReturnType<typeof reply.ack>>(7).fill(reply.ack()),
    );
    host.respond(reply.messages(ifbLink));
    const ctr = new RecordingSocket().respond(reply.messages(ctrEth0));
    const out = await callVerb(
      { add: (inv) => add(inv, fakeKernel(host, ctr)) },
      'ADD',
      conf({ unshapedSubnets: ['10.78.0.0/24', 'fd00:78::/64'] }),
      { id: ID, netns: files.netns },
    );
    expect(out.json['msg']).toBeUndefined();
    expectGolden(__dirname, 'add-unshaped-subnets', plan(host, ctr));
  });

  it('a failure half-way removes what this call added: the root qdisc and the ifb', async () => {
    const host = new RecordingSocket().respond(
      reply.messages(hostVeth),
      reply.ack(), // root tbf
      reply.ack(), // ifb created
      reply.messages(ifbLink),
      reply.ack(), // alias
      reply.ack(), // ingress qdisc
      reply.error('ENOENT', 'injected'), // the redirect filter fails
      reply.ack(), // rollback: ingress qdisc removed
      reply.messages(ifbLink), // rollback: the ifb is there
      reply.ack(), // ifb deleted
      reply.messages(cannedQdisc({ index: 7, handle: tcHandle(1), parent: TC_H_ROOT, options: TBF })),
    );
    const ctr = new RecordingSocket().respond(reply.messages(ctrEth0));
    const out = await callVerb({ add: (inv) => add(inv, fakeKernel(host, ctr)) }, 'ADD', conf(), {
      id: ID,
      netns: files.netns,
    });
    expect(out.code).toBe(1);
    expect(String(out.json['msg'])).toContain('ENOENT');
    expectGolden(__dirname, 'add-rollback', plan(host, ctr));
  });

  it('nothing to shape: prevResult passed on, no kernel work', async () => {
    const host = new RecordingSocket();
    const ctr = new RecordingSocket();
    const out = await callVerb(
      { add: (inv) => add(inv, fakeKernel(host, ctr)) },
      'ADD',
      conf({ ingressRate: 0, ingressBurst: 0, egressRate: 0, egressBurst: 0 }),
      { id: ID, netns: files.netns },
    );
    expect(out.code).toBe(0);
    expect(out.json['interfaces']).toEqual(PREV.interfaces);
    expect([...host.requests, ...ctr.requests]).toEqual([]);
  });
});

const TBF = { kind: 'tbf', rate: 1_000_000, buffer: 156_250, limit: 35_000 } as const;

describe('bandwidth DEL plan', () => {
  it('with the namespace: the veth found through it, its qdiscs removed, then the ifb', async () => {
    const host = new RecordingSocket().respond(
      reply.messages(ifbLink),
      reply.messages(hostVeth),
      reply.messages(cannedQdisc({ index: 7, handle: tcHandle(1), parent: TC_H_ROOT, options: TBF })),
      reply.ack(), // root qdisc removed
      reply.ack(), // ingress qdisc removed
      reply.ack(), // ifb deleted
    );
    const ctr = new RecordingSocket().respond(reply.messages(ctrEth0));
    const out = await callVerb({ del: (inv) => del(inv, fakeKernel(host, ctr)) }, 'DEL', conf(), {
      id: ID,
      netns: files.netns,
    });
    expect(out.code).toBe(0);
    expectGolden(__dirname, 'del', plan(host, ctr));
  });

  it('without namespace or prevResult: the shaped veth from the ifb alias, confirmed by its redirect', async () => {
    const redirect = cannedFilter({
      index: 7,
      parent: TC_H_INGRESS_HANDLE,
      prio: 1,
      protocol: ETH_P_ALL,
      classid: tcHandle(1, 1),
      keys: [],
      actions: [{ kind: 'mirred', direction: 'egress-redirect', ifindex: 9, verdict: 'stolen' }],
    });
    const host = new RecordingSocket().respond(
      reply.messages(ifbLink),
      reply.messages(hostVeth), // the alias's link by name
      reply.dump([redirect]),
      reply.messages(cannedQdisc({ index: 7, handle: tcHandle(1), parent: TC_H_ROOT, options: TBF })),
    );
    const ctr = new RecordingSocket();
    const config = { cniVersion: '1.0.0', name: NET, type: 'bandwidth' };
    const out = await callVerb({ del: (inv) => del(inv, fakeKernel(host, ctr)) }, 'DEL', config, { id: ID, netns: '' });
    expect(out.code).toBe(0);
    expect(ctr.requests).toEqual([]);
    expectGolden(__dirname, 'del-no-netns', plan(host, ctr));
  });

  it('nothing there (a second DEL): two lookups, nothing removed', async () => {
    const host = new RecordingSocket().respond(reply.error('ENODEV'));
    const ctr = new RecordingSocket().respond(reply.error('ENODEV'));
    const out = await callVerb({ del: (inv) => del(inv, fakeKernel(host, ctr)) }, 'DEL', conf(), {
      id: ID,
      netns: files.netns,
    });
    expect(out.code).toBe(0);
    expect(host.requests).toEqual([`RTM_GETLINK name=${IFB}`]);
    expect(ctr.requests).toEqual(['RTM_GETLINK name=eth0']);
  });
});

describe('bandwidth CHECK and GC plans', () => {
  it('CHECK reads the two tbfs, the ingress qdisc and the redirect, and changes nothing', async () => {
    const host = new RecordingSocket().respond(
      reply.messages(hostVeth),
      reply.messages(cannedQdisc({ index: 7, handle: tcHandle(1), parent: TC_H_ROOT, options: TBF })),
      reply.messages(ifbLink),
      reply.messages(cannedQdisc({ index: 9, handle: tcHandle(1), parent: TC_H_ROOT, options: TBF })),
      reply.messages(
        cannedQdisc({ index: 7, handle: TC_H_INGRESS_HANDLE, parent: 0xfffffff1, options: { kind: 'ingress' } }),
      ),
      reply.dump([
        cannedFilter({
          index: 7,
          parent: TC_H_INGRESS_HANDLE,
          prio: 1,
          protocol: ETH_P_ALL,
          classid: tcHandle(1, 1),
          keys: [],
          actions: [{ kind: 'mirred', direction: 'egress-redirect', ifindex: 9, verdict: 'stolen' }],
        }),
      ]),
    );
    const ctr = new RecordingSocket().respond(reply.messages(ctrEth0));
    const out = await callVerb({ check: (inv) => check(inv, fakeKernel(host, ctr)) }, 'CHECK', conf(), {
      id: ID,
      netns: files.netns,
    });
    expect(out.json['msg']).toBeUndefined();
    expect(out.code).toBe(0);
    expectGolden(__dirname, 'check', plan(host, ctr));
  });

  it('GC removes only ifbs of this network whose attachment is not valid', async () => {
    const stale = cannedLink({
      index: 11,
      name: ifbName(NET, 'gone'),
      kind: 'ifb',
      alias: ifbAlias(NET, 'veth00000000'),
    });
    const foreign = cannedLink({
      index: 12,
      name: ifbName('other', 'x'),
      kind: 'ifb',
      alias: ifbAlias('other', 'vethx'),
    });
    const reference = cannedLink({ index: 13, name: ifbName(NET, 'ref'), kind: 'ifb' });
    const host = new RecordingSocket().respond(
      reply.dump([ifbLink, stale, foreign, reference, hostVeth]),
      reply.error('ENODEV'), // the stale ifb's veth is gone
    );
    const ctr = new RecordingSocket();
    const config = {
      cniVersion: '1.1.0',
      name: NET,
      type: 'bandwidth',
      'cni.dev/valid-attachments': [{ containerID: ID, ifname: 'eth0' }],
    };
    const out = await callVerb({ gc: (inv) => gc(inv, fakeKernel(host, ctr)) }, 'GC', config);
    expect(out.code).toBe(0);
    expectGolden(__dirname, 'gc', plan(host, ctr));
  });
});
