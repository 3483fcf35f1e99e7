/**
 * dummy's verbs against a recording kernel (no root), as golden text: the link made in the
 * container, IPAM, addresses; the missing link type named and rolled back; DEL.
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

const IPAM_RESULT = JSON.stringify({
  cniVersion: '1.0.0',
  ips: [{ address: '10.40.0.9/24' }, { address: 'fd40::9/64' }],
  dns: { nameservers: ['10.40.0.53'] },
});
const DUMMY = { index: 5, name: 'eth0', kind: 'dummy', mac: '0a:00:00:00:00:05', up: true } as const;
const conf = (extra: object = {}): object => ({
  cniVersion: '1.0.0',
  name: 'dnet',
  type: 'dummy',
  ipam: { type: 'host-local' },
  ...extra,
});
const ipamRunner = (): RecordingRunner => new RecordingRunner().on((c) => c.tool === 'plugin', { stdout: IPAM_RESULT });
const run = (verb: string, config: Parameters<typeof runPlan>[2], o: FakeKernelOptions = {}): Promise<PlanRun> =>
  runPlan({ add, del, check }, verb, config, o);

describe('dummy ADD plan', () => {
  it('a dummy link in the container, dual-stack addresses; IPAM’s DNS passed on', async () => {
    const ctr = new RecordingSocket().respond(
      reply.ack(), // created
      reply.messages(cannedLink(DUMMY)),
      reply.messages(cannedLink(DUMMY)),
    );
    const { out, plan, netns } = await run('ADD', conf(), { ctr, runner: ipamRunner() });
    expect(out.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '0a:00:00:00:00:05', sandbox: netns }],
      ips: [
        { interface: 0, address: '10.40.0.9/24' },
        { interface: 0, address: 'fd40::9/64' },
      ],
      dns: { nameservers: ['10.40.0.53'] },
    });
    expectGolden(__dirname, 'add', plan);
  });

  it('a kernel without dummy links: the type named, IPAM never asked', async () => {
    const ctr = new RecordingSocket().respond(reply.error('EOPNOTSUPP'));
    const { out, plan } = await run('ADD', conf(), { ctr, runner: ipamRunner() });
    expect(out.json).toMatchObject({
      code: 999,
      msg: 'failed to create dummy: this kernel has no dummy links (CONFIG_DUMMY)',
    });
    expectGolden(__dirname, 'add-no-dummy', plan);
  });

  it('a name in use: said plainly, nothing deleted', async () => {
    const ctr = new RecordingSocket().respond(reply.error('EEXIST'));
    const { out, plan } = await run('ADD', conf(), { ctr });
    expect(out.json).toMatchObject({ msg: 'failed to create dummy: interface "eth0" already exists in the container' });
    expect(plan).not.toContain('RTM_DELLINK');
  });

  it('IPAM failing rolls back: the link deleted, the lease released', async () => {
    const ctr = new RecordingSocket().respond(
      reply.ack(),
      reply.messages(cannedLink(DUMMY)),
      reply.messages(cannedLink(DUMMY)), // rollback lookup
    );
    const runner = new RecordingRunner().on((c) => c.tool === 'plugin' && c.env?.['CNI_COMMAND'] === 'ADD', {
      exitCode: 1,
      stdout: JSON.stringify({ cniVersion: '1.0.0', code: 999, msg: 'range exhausted' }),
    });
    const { out, plan } = await run('ADD', conf(), { ctr, runner });
    expect(out.json).toMatchObject({ msg: 'range exhausted' });
    expectGolden(__dirname, 'add-rollback', plan);
  });
});

describe('dummy DEL and CHECK', () => {
  it('DEL: the link, then the lease', async () => {
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink(DUMMY)));
    const { out, plan } = await run('DEL', conf(), { ctr });
    expect(out.code).toBe(0);
    expectGolden(__dirname, 'del', plan);
  });

  it('DEL with a dhcp IPAM: the lease first, while the link is there to send the release from', async () => {
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink(DUMMY)));
    const { out, timeline } = await run('DEL', conf({ ipam: { type: 'dhcp' } }), { ctr });
    expect(out.code).toBe(0);
    expect(timeline).toEqual([
      'program CNI_COMMAND=DEL <cni-path>/dhcp',
      'container RTM_GETLINK name=eth0',
      'container RTM_DELLINK index=5',
    ]);
  });

  it('DEL with any other IPAM: the link first, so its address is not handed out while in use', async () => {
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink(DUMMY)));
    const { timeline } = await run('DEL', conf(), { ctr });
    expect(timeline).toEqual([
      'container RTM_GETLINK name=eth0',
      'container RTM_DELLINK index=5',
      'program CNI_COMMAND=DEL <cni-path>/host-local',
    ]);
  });

  const prev = (netns: string): object =>
    conf({
      prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '0a:00:00:00:00:05', sandbox: netns }] },
    });
  it.each<[string, object, string]>([
    ['a veth', { kind: 'veth' }, 'Error: Container interface eth0 not of type dummy'],
    ['a link that is down', { up: false }, 'Interface eth0 is down'],
  ])('CHECK fails on %s', async (_what, over, msg) => {
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink({ ...DUMMY, ...over })));
    const { out } = await run('CHECK', prev, { ctr });
    expect(out.json).toMatchObject({ code: 999, msg });
  });
  it('CHECK passes on the link ADD made', async () => {
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink(DUMMY)));
    expect((await run('CHECK', prev, { ctr })).out.code).toBe(0);
  });
});
