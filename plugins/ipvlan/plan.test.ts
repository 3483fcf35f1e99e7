/**
 * ipvlan's verbs against recording fakes (no root): every netlink request in the host and the
 * container namespace, every sysctl and every program, as golden text (`make golden` rewrites
 * the files). This kernel has no ipvlan links, so these plans are the only place its ADD runs
 * here; they are the requests a kernel with ipvlan gets.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { RecordingRunner } from '../../lib/exec/recording';
import { cannedLink, RecordingSocket, reply } from '../../lib/netlink/fake';
import { fakeKernel, planDir, type PlanDir } from '../../lib/testutil/fake-kernel';
import { expectGolden } from '../../lib/testutil/golden';
import { callVerb } from '../../lib/testutil/verbs';
import { add } from './add';
import { del } from './del';

const IPAM_RESULT = JSON.stringify({
  cniVersion: '1.0.0',
  ips: [{ address: '10.1.2.3/24', gateway: '10.1.2.1' }, { address: 'fd00:1:2::3/64' }],
});

let d: PlanDir;
beforeEach(() => {
  d = planDir(['host-local']);
});
afterEach(() => d.remove());

const conf = (extra: object = {}): object => ({
  cniVersion: '1.0.0',
  name: 'ipvnet',
  type: 'ipvlan',
  master: 'eth0',
  mode: 'l3',
  ipam: { type: 'host-local' },
  ...extra,
});
const ipam = (): RecordingRunner => new RecordingRunner().on((c) => c.tool === 'plugin', { stdout: IPAM_RESULT });
const child = cannedLink({ index: 5, name: 'eth0', kind: 'ipvlan', mac: '0a:00:00:00:00:02' });

describe('ipvlan ADD plan', () => {
  it('the ipvlan born in the container on the master, then IPAM, sysctls, both addresses', async () => {
    const host = new RecordingSocket().respond(reply.messages(cannedLink({ index: 2, name: 'eth0', mtu: 9000 })));
    const ctr = new RecordingSocket().respond(reply.messages(child));
    ctr.respond(reply.ack(), reply.ack(), reply.ack(), reply.messages(child));
    const k = fakeKernel({ host, ctr, runner: ipam() });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf({ mtu: 9000 }), {
      netns: d.netns,
      env: d.env,
    });
    expect(out.json['msg']).toBeUndefined();
    expect(out.json['ips']).toEqual([
      { interface: 0, address: '10.1.2.3/24', gateway: '10.1.2.1' },
      { interface: 0, address: 'fd00:1:2::3/64' },
    ]);
    expectGolden(__dirname, 'add', k.plan({ cniPath: d.dir }));
  });

  it('chained without IPAM or master: the previous result’s interface is the master, its addresses move over', async () => {
    const prevResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'net0' }],
      ips: [{ interface: 0, address: '10.9.0.5/16', gateway: '10.9.0.1' }],
      routes: [{ dst: '10.10.0.0/16' }],
    };
    const host = new RecordingSocket().respond(reply.messages(cannedLink({ index: 3, name: 'net0' })));
    const ctr = new RecordingSocket().respond(reply.messages(child));
    ctr.respond(reply.ack(), reply.ack(), reply.ack(), reply.messages(child));
    const k = fakeKernel({ host, ctr });
    const out = await callVerb(
      { add: (inv) => add(inv, k.kernel) },
      'ADD',
      { cniVersion: '1.0.0', name: 'ipvnet', type: 'ipvlan', prevResult },
      { netns: d.netns, env: d.env },
    );
    expect(out.json['msg']).toBeUndefined();
    expect(k.runner.calls).toEqual([]);
    expectGolden(__dirname, 'add-chained', k.plan());
  });

  it('a kernel without ipvlan: a clear error and nothing left (the lease was never taken)', async () => {
    const host = new RecordingSocket().respond(
      reply.messages(cannedLink({ index: 2, name: 'eth0' })),
      reply.error('EOPNOTSUPP', 'Unknown device type'),
    );
    const k = fakeKernel({ host, runner: ipam() });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf(), { netns: d.netns, env: d.env });
    expect(out.json['msg']).toBe('failed to create ipvlan: this kernel has no ipvlan links (CONFIG_IPVLAN)');
    expect(k.runner.calls).toEqual([]);
    expectGolden(__dirname, 'add-unsupported', k.plan());
  });

  it('a failure in the container rolls back: the ipvlan deleted, the lease released', async () => {
    const host = new RecordingSocket().respond(reply.messages(cannedLink({ index: 2, name: 'eth0' })));
    const ctr = new RecordingSocket().respond(
      reply.messages(child),
      reply.error('EADDRNOTAVAIL', 'injected'),
      reply.messages(child),
    );
    const k = fakeKernel({ host, ctr, runner: ipam() });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf(), { netns: d.netns, env: d.env });
    expect(out.code).toBe(1);
    expectGolden(__dirname, 'add-rollback', k.plan({ cniPath: d.dir }));
  });
});

describe('ipvlan DEL plan', () => {
  it('deletes the container link and releases the lease; no master needed', async () => {
    const ctr = new RecordingSocket().respond(reply.messages(child));
    const k = fakeKernel({ ctr });
    const out = await callVerb({ del: (inv) => del(inv, k.kernel) }, 'DEL', conf(), { netns: d.netns, env: d.env });
    expect(out.code).toBe(0);
    expectGolden(__dirname, 'del', k.plan({ cniPath: d.dir }));
  });
});
