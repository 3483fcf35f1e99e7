/**
 * tap's verbs against a recording kernel (no root): the /dev/net/tun calls, every netlink request
 * in the container's namespace, sysctls and programs, as golden text (`make golden` rewrites).
 */
import { describe, expect, it } from '@jest/globals';
import { RecordingRunner } from '../../lib/exec/recording';
import { cannedLink, RecordingSocket, reply } from '../../lib/netlink/fake';
import type { FakeKernelOptions } from '../../lib/testutil/fake-kernel';
import { expectGolden } from '../../lib/testutil/golden';
import { runPlan, type PlanRun } from '../../lib/testutil/plan-call';
import type { VerbOutput } from '../../lib/testutil/verbs';
import { add } from './add';
import { check } from './check';
import { del } from './del';

const IPAM_RESULT = JSON.stringify({
  cniVersion: '1.0.0',
  ips: [{ address: '10.20.0.5/24', gateway: '10.20.0.1' }],
  routes: [{ dst: '0.0.0.0/0' }],
  dns: { nameservers: ['10.20.0.53'] },
});
const TAP = { index: 3, name: 'eth0', kind: 'tun', mac: '0a:00:00:00:00:03' } as const;

const conf = (extra: object = {}): object => ({ cniVersion: '1.0.0', name: 'tapnet', type: 'tap', ...extra });
const FULL = {
  mac: '02:00:00:00:00:aa',
  mtu: 1400,
  multiQueue: true,
  owner: 1000,
  group: 1234,
  bridge: 'br0',
  ipam: { type: 'host-local' },
};
const ipamRunner = (): RecordingRunner => new RecordingRunner().on((c) => c.tool === 'plugin', { stdout: IPAM_RESULT });

const VERBS = { add, del, check };
const run = (verb: string, config: Parameters<typeof runPlan>[2], o: FakeKernelOptions = {}): Promise<PlanRun> =>
  runPlan(VERBS, verb, config, o);

describe('tap ADD plan', () => {
  it('every option: a persistent multi-queue tap with owner and group, MTU, MAC, bridge port, addresses', async () => {
    const ctr = new RecordingSocket().respond(
      reply.messages(cannedLink(TAP)), // the new tap
      reply.ack(), // MTU and MAC
      reply.messages(cannedLink({ index: 2, name: 'br0', kind: 'bridge' })),
      reply.ack(), // master
      reply.ack(), // up
      reply.messages(cannedLink(TAP)), // configureInterface
    );
    const { out, plan, netns } = await run('ADD', conf(FULL), { ctr, runner: ipamRunner() });
    expect(out.json['msg']).toBeUndefined();
    expect(out.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:aa', sandbox: netns }],
      ips: [{ interface: 0, address: '10.20.0.5/24', gateway: '10.20.0.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
    });
    expectGolden(__dirname, 'add-full', plan);
  });

  it('layer 2 only, defaults: one queue, no owner, group, bridge or IPAM; the config’s DNS', async () => {
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink(TAP)));
    const { out, plan, netns } = await run('ADD', conf({ dns: { nameservers: ['1.1.1.1'] } }), { ctr });
    expect(out.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '0a:00:00:00:00:03', sandbox: netns }],
      dns: { nameservers: ['1.1.1.1'] },
    });
    expectGolden(__dirname, 'add-l2', plan);
  });

  it('IPAM failing rolls back: the tap is deleted and the lease released', async () => {
    const ctr = new RecordingSocket().respond(
      reply.messages(cannedLink(TAP)),
      reply.ack(), // up
      reply.messages(cannedLink(TAP)), // rollback lookup
    );
    const runner = new RecordingRunner().on((c) => c.tool === 'plugin' && c.env?.['CNI_COMMAND'] === 'ADD', {
      exitCode: 1,
      stdout: JSON.stringify({ cniVersion: '1.0.0', code: 11, msg: 'no addresses left' }),
    });
    const { out, plan } = await run('ADD', conf({ ipam: { type: 'host-local' } }), { ctr, runner });
    expect(out.code).toBe(1);
    expect(out.json).toMatchObject({ code: 11, msg: 'no addresses left' });
    expectGolden(__dirname, 'add-rollback-ipam', plan);
  });

  it('a missing bridge rolls back before IPAM', async () => {
    const ctr = new RecordingSocket().respond(
      reply.messages(cannedLink(TAP)),
      reply.ack(), // MTU and MAC
      reply.error('ENODEV'), // no br0
      reply.messages(cannedLink(TAP)), // rollback lookup
    );
    const { out, plan } = await run('ADD', conf(FULL), { ctr, runner: ipamRunner() });
    expect(out.json).toMatchObject({ code: 999, msg: 'failed to get bridge br0: link not found' });
    expectGolden(__dirname, 'add-rollback-bridge', plan);
  });

  it('a refused owner closes the file before TUNSETPERSIST: the kernel drops the tap, no netlink needed', async () => {
    const { out, plan } = await run('ADD', conf(FULL), { tunFailures: { TUNSETOWNER: 'EPERM' } });
    expect(out.json).toMatchObject({ code: 999, msg: 'failed to create tap', details: expect.stringMatching(/EPERM/) });
    expectGolden(__dirname, 'add-owner-refused', plan);
  });

  it('a name in use is EBUSY (never an attach to that device), said plainly', async () => {
    const { out } = await run('ADD', conf(), { tunFailures: { TUNSETIFF: 'EBUSY' } });
    expect(out.json).toMatchObject({
      code: 999,
      msg: 'failed to create tap: interface "eth0" already exists in the container',
    });
  });

  it('no /dev/net/tun is named as such', async () => {
    const { out } = await run('ADD', conf(), { tunFailures: { open: 'ENOENT' } });
    expect(out.json).toMatchObject({
      msg: 'failed to create tap: /dev/net/tun is missing or has no driver (CONFIG_TUN)',
    });
  });
});

describe('tap DEL plan', () => {
  it('the tap, then the lease', async () => {
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink(TAP)));
    const { out, plan } = await run('DEL', conf(FULL), { ctr, runner: new RecordingRunner() });
    expect(out.code).toBe(0);
    expectGolden(__dirname, 'del', plan);
  });

  it('a tap already gone is fine', async () => {
    const ctr = new RecordingSocket().respond(reply.error('ENODEV'));
    const { out } = await run('DEL', conf(), { ctr });
    expect(out.code).toBe(0);
  });
});

describe('tap CHECK', () => {
  const prevResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:aa', sandbox: '' }],
  };
  const live = (over: object = {}): ReturnType<typeof cannedLink> =>
    cannedLink({
      ...TAP,
      mac: '02:00:00:00:00:aa',
      mtu: 1400,
      masterIndex: 2,
      tun: { type: 'tap', multiQueue: true, owner: 1000, group: 1234 },
      ...over,
    });
  const checkWith = async (link: ReturnType<typeof cannedLink>): Promise<VerbOutput> => {
    const ctr = new RecordingSocket().respond(
      reply.messages(link),
      reply.messages(cannedLink({ index: 2, name: 'br0', kind: 'bridge' })),
    );
    const { ipam: _ipam, ...l2 } = FULL;
    const withPrev = (netns: string): object =>
      conf({ ...l2, prevResult: { ...prevResult, interfaces: [{ ...prevResult.interfaces[0], sandbox: netns }] } });
    return (await run('CHECK', withPrev, { ctr })).out;
  };

  it('passes on the tap ADD made', async () => {
    expect((await checkWith(live())).code).toBe(0);
  });
  it.each<[string, object, string]>([
    ['a tun, not a tap', { tun: { type: 'tun', multiQueue: true, owner: 1000, group: 1234 } }, 'not of type tap'],
    ['one queue', { tun: { type: 'tap', multiQueue: false, owner: 1000, group: 1234 } }, 'multi-queue is false'],
    ['another owner', { tun: { type: 'tap', multiQueue: true, owner: 0, group: 1234 } }, 'owner is 0, configured 1000'],
    ['no group', { tun: { type: 'tap', multiQueue: true, owner: 1000 } }, 'group is none, configured 1234'],
    ['another MTU', { mtu: 1500 }, 'MTU is 1500, configured 1400'],
    ['another MAC', { mac: '02:00:00:00:00:bb' }, "Mac 02:00:00:00:00:aa doesn't match"],
    ['out of the bridge', { masterIndex: 9 }, 'is not a port of bridge br0'],
  ])('fails on %s', async (_what, over, msg) => {
    const out = await checkWith(live(over));
    expect(out.json).toMatchObject({ code: 999 });
    expect(String(out.json['msg'])).toContain(msg);
  });
});
