/**
 * ptp's verbs against recording fakes (no root): every netlink request in the host and the
 * container namespace, every sysctl and every program, as golden text (`make golden` rewrites
 * the files). Dual-stack, so both families' point-to-point routes and forwarding are in the plan.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { RecordingRunner } from '../../lib/exec/recording';
import { resetBackendProbes } from '../../lib/firewall/backend';
import { cannedLink, RecordingSocket, reply } from '../../lib/netlink/fake';
import { fakeKernel, planDir, type PlanDir } from '../../lib/testutil/fake-kernel';
import { expectGolden } from '../../lib/testutil/golden';
import { callVerb } from '../../lib/testutil/verbs';
import { add } from './add';
import { del } from './del';

const IPAM_RESULT = JSON.stringify({
  cniVersion: '1.0.0',
  ips: [
    { address: '10.244.1.2/24', gateway: '10.244.1.1' },
    { address: 'fd00:244:1::2/64', gateway: 'fd00:244:1::1' },
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
});

let d: PlanDir;
beforeEach(() => {
  d = planDir(['host-local']);
  resetBackendProbes();
});
afterEach(() => d.remove());

const conf = {
  cniVersion: '1.0.0',
  name: 'kindnet',
  type: 'ptp',
  ipMasq: true,
  mtu: 1460,
  ipam: { type: 'host-local' },
};

/** IPAM answers; nothing of ours in nat yet (both families). */
const runner = (): RecordingRunner =>
  new RecordingRunner()
    .on((c) => c.tool === 'plugin', { stdout: IPAM_RESULT })
    .on((c) => c.tool === 'iptables' || c.tool === 'ip6tables', { exitCode: 1 });

const veth = (): ReturnType<typeof reply.messages> =>
  reply.messages(cannedLink({ index: 9, name: 'veth00000000', kind: 'veth' }));

describe('ptp ADD plan', () => {
  it('veth pair, gateway addresses and host routes, the container routed via the gateway, masquerade', async () => {
    const host = new RecordingSocket().respond(reply.ack(), veth()); // veth pair, its lookup
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink({ index: 2, name: 'eth0', kind: 'veth' })));
    const k = fakeKernel({ host, ctr, runner: runner() });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf, { netns: d.netns, env: d.env });
    expect(out.json['msg']).toBeUndefined();
    expect(out.code).toBe(0);
    expect(out.json['ips']).toEqual([
      { interface: 1, address: '10.244.1.2/24', gateway: '10.244.1.1' },
      { interface: 1, address: 'fd00:244:1::2/64', gateway: 'fd00:244:1::1' },
    ]);
    expectGolden(__dirname, 'add', k.plan({ cniPath: d.dir }));
  });

  it('a failure in the container rolls back: veth deleted, masquerade and lease released', async () => {
    const host = new RecordingSocket().respond(
      reply.ack(), // veth pair
      veth(),
      reply.ack(), // host end up
      reply.ack(), // 10.244.1.1/32
      reply.ack(), // route to 10.244.1.2
      reply.ack(), // fd00:244:1::1/128
      reply.ack(), // route to fd00:244:1::2
      veth(), // rollback: the veth is there
    );
    const ctr = new RecordingSocket().respond(
      reply.messages(cannedLink({ index: 2, name: 'eth0', kind: 'veth' })),
      reply.error('EADDRNOTAVAIL', 'injected'),
    );
    const k = fakeKernel({ host, ctr, runner: runner() });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf, { netns: d.netns, env: d.env });
    expect(out.code).toBe(1);
    expect(String(out.json['msg'])).toContain('EADDRNOTAVAIL');
    expectGolden(__dirname, 'add-rollback', k.plan({ cniPath: d.dir }));
  });
});

describe('ptp DEL plan', () => {
  it('deletes the container link (the host end and its routes go with it), masquerade in both backends, the lease', async () => {
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink({ index: 2, name: 'eth0', kind: 'veth' })));
    const k = fakeKernel({ ctr, runner: runner() });
    const out = await callVerb({ del: (inv) => del(inv, k.kernel) }, 'DEL', conf, { netns: d.netns, env: d.env });
    expect(out.code).toBe(0);
    expect(k.host.requests).toEqual([]);
    expectGolden(__dirname, 'del', k.plan({ cniPath: d.dir, sortPrograms: true }));
  });

  it('without the namespace: no netlink at all, the rules and the lease still go', async () => {
    const k = fakeKernel({ runner: runner() });
    const out = await callVerb({ del: (inv) => del(inv, k.kernel) }, 'DEL', conf, { netns: '', env: d.env });
    expect(out.code).toBe(0);
    expect([...k.host.requests, ...k.ctr.requests]).toEqual([]);
    expect(k.runner.lines().some((l) => l.endsWith('/host-local'))).toBe(true);
  });
});
