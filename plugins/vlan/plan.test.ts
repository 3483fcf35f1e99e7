/**
 * vlan's verbs against a recording kernel (no root): the netlink requests in the host's and the
 * container's namespace and the programs, as golden text. Most kernels have 802.1Q; this
 * project's test machine has not, so these lines are also the proof of what would be sent, and
 * of the rollback when the kernel refuses.
 */
import { describe, expect, it } from '@jest/globals';
import { RecordingRunner } from '../../lib/exec/recording';
import { cannedLink, RecordingSocket, reply } from '../../lib/netlink/fake';
import type { FakeKernelOptions } from '../../lib/testutil/fake-kernel';
import { expectGolden } from '../../lib/testutil/golden';
import { runPlan, type PlanRun } from '../../lib/testutil/plan-call';
import { add } from './add';
import { check } from './check';
import { del } from './del';
import { status } from './status';

const IPAM_RESULT = JSON.stringify({
  cniVersion: '1.0.0',
  ips: [{ address: '10.30.0.7/24', gateway: '10.30.0.1' }],
  routes: [{ dst: '10.99.0.0/16' }],
  dns: { nameservers: ['10.30.0.53'] },
});
const MASTER = { index: 2, name: 'phys0', mtu: 9000 } as const;
const VLAN = { index: 4, name: 'eth0', kind: 'vlan', mac: '0a:00:00:00:00:04', vlanId: 100, parentIndex: 2 } as const;
const conf = (extra: object = {}): object => ({
  cniVersion: '1.0.0',
  name: 'vlnet',
  type: 'vlan',
  master: 'phys0',
  vlanId: 100,
  ipam: { type: 'host-local' },
  ...extra,
});
const ipamRunner = (): RecordingRunner => new RecordingRunner().on((c) => c.tool === 'plugin', { stdout: IPAM_RESULT });
const run = (verb: string, config: Parameters<typeof runPlan>[2], o: FakeKernelOptions = {}): Promise<PlanRun> =>
  runPlan({ add, del, check, status }, verb, config, o);

describe('vlan ADD plan', () => {
  it('an 802.1Q link of the host’s master, born in the container; IPAM; addresses and routes', async () => {
    const host = new RecordingSocket().respond(reply.messages(cannedLink(MASTER)));
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink(VLAN)), reply.messages(cannedLink(VLAN)));
    const { out, plan, netns } = await run('ADD', conf({ mtu: 1500 }), { host, ctr, runner: ipamRunner() });
    expect(out.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '0a:00:00:00:00:04', sandbox: netns }],
      ips: [{ interface: 0, address: '10.30.0.7/24', gateway: '10.30.0.1' }],
      routes: [{ dst: '10.99.0.0/16' }],
    });
    expectGolden(__dirname, 'add', plan);
  });

  it('linkInContainer: the master is the container’s, the link made there; the config’s DNS', async () => {
    const ctr = new RecordingSocket().respond(
      reply.messages(cannedLink(MASTER)),
      reply.ack(), // created
      reply.messages(cannedLink(VLAN)),
      reply.messages(cannedLink(VLAN)),
    );
    const dns = { nameservers: ['192.0.2.53'] };
    const { out, plan } = await run('ADD', conf({ linkInContainer: true, vlanId: 0, dns }), {
      ctr,
      runner: ipamRunner(),
    });
    expect(out.json['dns']).toEqual(dns);
    expectGolden(__dirname, 'add-link-in-container', plan);
  });

  it('a kernel without 802.1Q: the missing link type named, nothing created, IPAM never asked', async () => {
    const host = new RecordingSocket().respond(reply.messages(cannedLink(MASTER)), reply.error('EOPNOTSUPP'));
    const { out, plan } = await run('ADD', conf(), { host, runner: ipamRunner() });
    expect(out.json).toMatchObject({
      code: 999,
      msg: 'failed to create vlan: this kernel has no 802.1Q VLAN links (CONFIG_VLAN_8021Q)',
      details: expect.stringMatching(/EOPNOTSUPP/),
    });
    expectGolden(__dirname, 'add-no-8021q', plan);
  });

  it('an address the kernel refuses rolls back: lease released, link deleted', async () => {
    const host = new RecordingSocket().respond(reply.messages(cannedLink(MASTER)));
    const ctr = new RecordingSocket().respond(
      reply.messages(cannedLink(VLAN)),
      reply.messages(cannedLink(VLAN)),
      reply.error('EADDRNOTAVAIL', 'injected'),
      reply.messages(cannedLink(VLAN)), // rollback lookup
    );
    const { out, plan } = await run('ADD', conf(), { host, ctr, runner: ipamRunner() });
    expect(out.code).toBe(1);
    expect(String(out.json['details'] ?? out.json['msg'])).toMatch(/EADDRNOTAVAIL/);
    expectGolden(__dirname, 'add-rollback', plan);
  });

  it('EEXIST: the name in the container, or the VLAN ID taken on the master, said apart', async () => {
    const eexist = (
      ctrLookup: ReturnType<typeof reply.error> | ReturnType<typeof reply.messages>,
    ): FakeKernelOptions => ({
      host: new RecordingSocket().respond(reply.messages(cannedLink(MASTER)), reply.error('EEXIST')),
      ctr: new RecordingSocket().respond(ctrLookup),
    });
    const named = await run('ADD', conf(), eexist(reply.messages(cannedLink(VLAN))));
    expect(named.out.json['msg']).toBe('failed to create vlan: interface "eth0" already exists in the container');
    const vid = await run('ADD', conf(), eexist(reply.error('ENODEV')));
    expect(vid.out.json['msg']).toBe('failed to create vlan: VLAN 100 of phys0 is in use by another link');
    expect(vid.plan).not.toContain('RTM_DELLINK');
  });

  it.each<[string, object, FakeKernelOptions, number, string]>([
    [
      'a missing master',
      {},
      { host: new RecordingSocket().respond(reply.error('ENODEV')) },
      999,
      'failed to lookup master "phys0": link not found',
    ],
    [
      'an MTU above the master’s',
      { mtu: 9001 },
      { host: new RecordingSocket().respond(reply.messages(cannedLink(MASTER))) },
      7,
      'invalid MTU 9001, must be [0, master MTU(9000)]',
    ],
    ['no IPAM', { ipam: undefined }, {}, 7, 'vlan needs an "ipam" section (no plugin name provided)'],
  ])('%s fails before anything is created', async (_what, extra, o, code, msg) => {
    const { out, plan } = await run('ADD', conf(extra), o);
    expect(out.json).toMatchObject({ code, msg });
    expect(plan).not.toMatch(/RTM_NEWLINK|host-local/);
  });
});

describe('vlan DEL plan', () => {
  it('the link, then the lease; the master is not looked at', async () => {
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink(VLAN)));
    const { out, plan } = await run('DEL', conf({ master: 'gone0', mtu: 99999 }), { ctr });
    expect(out.code).toBe(0);
    expectGolden(__dirname, 'del', plan);
  });
});

describe('vlan CHECK', () => {
  const prev = (netns: string): object =>
    conf({
      prevResult: {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'eth0', mac: '0a:00:00:00:00:04', sandbox: netns }],
        ips: [{ interface: 0, address: '10.30.0.7/24' }],
      },
    });
  const withLink = (over: object): FakeKernelOptions => ({
    host: new RecordingSocket().respond(reply.messages(cannedLink(MASTER))),
    ctr: new RecordingSocket().respond(reply.messages(cannedLink({ ...VLAN, ...over }))),
  });
  it.each<[string, object, string]>([
    ['a macvlan', { kind: 'macvlan' }, 'Error: Container interface eth0 not of type vlan'],
    ['another VLAN ID', { vlanId: 200 }, 'configured VLAN ID is 100, current value is 200'],
    ['another MAC', { mac: '0a:00:00:00:00:99' }, "vlan: Interface eth0 Mac 0a:00:00:00:00:04 doesn't match"],
    ['another parent', { parentIndex: 7 }, 'is not a VLAN of master phys0'],
  ])('fails on %s', async (_what, over, msg) => {
    const { out } = await run('CHECK', prev, withLink(over));
    expect(out.json).toMatchObject({ code: 999 });
    expect(String(out.json['msg'])).toContain(msg);
  });
  it('without prevResult: the reference message, code 7', async () => {
    const { out } = await run('CHECK', conf());
    expect(out.json).toMatchObject({ code: 7, msg: 'vlan: Required prevResult missing' });
  });
});

describe('vlan STATUS', () => {
  it('code 50 when the master is missing, else IPAM’s answer', async () => {
    const missing = await run('STATUS', conf({ cniVersion: '1.1.0' }), {
      host: new RecordingSocket().respond(reply.error('ENODEV')),
    });
    expect(missing.out.json).toMatchObject({ code: 50, details: 'master "phys0" does not exist' });
    const ok = await run('STATUS', conf({ cniVersion: '1.1.0' }), {
      host: new RecordingSocket().respond(reply.messages(cannedLink(MASTER))),
    });
    expect(ok.out.code).toBe(0);
    expect(ok.plan).toContain('CNI_COMMAND=STATUS <cni-path>/host-local');
  });
});
