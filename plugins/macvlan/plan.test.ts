/**
 * macvlan's verbs against recording fakes (no root): every netlink request in the host and the
 * container namespace, every sysctl and every program, as golden text (`make golden` rewrites
 * the files). With the `vlan` key the plan includes the 802.1Q sub-interface's lifetime: created
 * and marked ours by the first ADD, deleted by the DEL of its last user. 802.1Q links do not
 * exist on every kernel; these are the requests one that has them gets.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RecordingRunner } from '../../lib/exec/recording';
import { cannedLink, RecordingSocket, reply } from '../../lib/netlink/fake';
import { fakeKernel, planDir, type PlanDir } from '../../lib/testutil/fake-kernel';
import { expectGolden } from '../../lib/testutil/golden';
import { callVerb } from '../../lib/testutil/verbs';
import { add } from './add';
import { del } from './del';

const IPAM_RESULT = JSON.stringify({
  cniVersion: '1.0.0',
  ips: [{ address: '192.168.50.10/24', gateway: '192.168.50.1' }],
  routes: [{ dst: '0.0.0.0/0' }],
});

let d: PlanDir;
afterEach(() => d.remove());

const conf = (extra: object = {}): object => ({
  cniVersion: '1.0.0',
  name: 'mvnet',
  type: 'macvlan',
  master: 'eth0',
  mode: 'bridge',
  ipam: { type: 'host-local' },
  ...extra,
});
const ipam = (): RecordingRunner => new RecordingRunner().on((c) => c.tool === 'plugin', { stdout: IPAM_RESULT });
const master = cannedLink({ index: 2, name: 'eth0', mtu: 1500 });
const child = cannedLink({ index: 4, name: 'eth0', kind: 'macvlan', mac: '0a:58:c0:a8:32:0a' });

describe('macvlan ADD plan', () => {
  it('the macvlan born in the container on the master, then IPAM, sysctls, address, routes', async () => {
    d = planDir(['host-local']);
    const host = new RecordingSocket().respond(reply.messages(master));
    const ctr = new RecordingSocket().respond(reply.messages(child), reply.ack(), reply.ack(), reply.ack());
    ctr.respond(reply.messages(child));
    const k = fakeKernel({ host, ctr, runner: ipam() });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf({ mtu: 1400 }), {
      netns: d.netns,
      env: d.env,
    });
    expect(out.json['msg']).toBeUndefined();
    expect(out.json['interfaces']).toEqual([{ name: 'eth0', mac: '0a:58:c0:a8:32:0a', sandbox: d.netns }]);
    expectGolden(__dirname, 'add', k.plan({ cniPath: d.dir }));
  });

  it('a failure in the container rolls back: the macvlan deleted, the lease released', async () => {
    d = planDir(['host-local']);
    const host = new RecordingSocket().respond(reply.messages(master));
    const ctr = new RecordingSocket().respond(
      reply.messages(child),
      reply.error('EADDRNOTAVAIL', 'injected'),
      reply.messages(child), // rollback: the link is there
    );
    const k = fakeKernel({ host, ctr, runner: ipam() });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf(), { netns: d.netns, env: d.env });
    expect(out.code).toBe(1);
    expect(String(out.json['msg'])).toContain('EADDRNOTAVAIL');
    expectGolden(__dirname, 'add-rollback', k.plan({ cniPath: d.dir }));
  });

  it('the vlan key: eth0.10 created on eth0, marked ours, counted; the macvlan on it', async () => {
    d = planDir(['host-local']);
    const host = new RecordingSocket().respond(
      reply.error('ENODEV'), // eth0.10 is not there
      reply.error('ENODEV'), // nor under the lock
      reply.messages(master), // its parent
      reply.ack(), // created
      reply.messages(cannedLink({ index: 8, name: 'eth0.10', kind: 'vlan' })),
      reply.ack(), // up, alias
      reply.messages(cannedLink({ index: 8, name: 'eth0.10', kind: 'vlan', up: true })),
    );
    const ctr = new RecordingSocket().respond(reply.messages(child), reply.ack(), reply.ack(), reply.ack());
    ctr.respond(reply.messages(child));
    const k = fakeKernel({ host, ctr, runner: ipam() });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf({ vlan: 10 }), {
      netns: d.netns,
      env: d.env,
    });
    expect(out.json['msg']).toBeUndefined();
    expect(vlanUsers(d)).toEqual([{ network: 'mvnet', containerId: 'c1', ifName: 'eth0' }]);
    expectGolden(__dirname, 'add-vlan', k.plan({ cniPath: d.dir }));
  });
});

/** The users recorded in the one VLAN state file of the plan's state directory. */
function vlanStateFile(p: PlanDir): { token: string; users: unknown[] } {
  const dir = join(p.env['TSCNI_STATE_DIR'] ?? '', 'vlan');
  const file = readdirSync(dir).find((f) => f.endsWith('-eth0.10.json'));
  if (!file) throw new Error('no VLAN state file');
  return JSON.parse(readFileSync(join(dir, file), 'utf8')) as { token: string; users: unknown[] };
}
const vlanUsers = (p: PlanDir): unknown[] => vlanStateFile(p).users;

describe('macvlan DEL plan', () => {
  it('deletes the container link and releases the lease; no master needed', async () => {
    d = planDir(['host-local']);
    const ctr = new RecordingSocket().respond(reply.messages(child));
    const k = fakeKernel({ ctr, runner: new RecordingRunner() });
    const out = await callVerb({ del: (inv) => del(inv, k.kernel) }, 'DEL', conf(), { netns: d.netns, env: d.env });
    expect(out.code).toBe(0);
    expectGolden(__dirname, 'del', k.plan({ cniPath: d.dir }));
  });

  it('every step runs even after a failure; all of them come back as one error with the first code', async () => {
    d = planDir(['host-local']);
    const ctr = new RecordingSocket().respond(reply.messages(child), reply.error('EBUSY'));
    const runner = new RecordingRunner().on((c) => c.tool === 'plugin', {
      exitCode: 1,
      stdout: '{"code":11,"msg":"failed to lock the IPAM store"}',
    });
    const k = fakeKernel({ ctr, runner });
    const out = await callVerb({ del: (inv) => del(inv, k.kernel) }, 'DEL', conf(), { netns: d.netns, env: d.env });
    // The lease goes first (the reference's order), its failure does not keep the link.
    expect(out.json).toMatchObject({ code: 11 });
    expect(out.json['msg']).toMatch(/^failed to lock the IPAM store; failed to delete eth0: .*busy/i);
    expect(k.ctr.requests).toEqual(['RTM_GETLINK name=eth0', 'RTM_DELLINK index=4']);
  });

  it('the last user of a VLAN sub-interface of ours takes it away', async () => {
    d = planDir(['host-local']);
    // The ADD that made eth0.10 and counted this attachment.
    const made = fakeKernel({
      host: new RecordingSocket().respond(
        reply.error('ENODEV'),
        reply.error('ENODEV'),
        reply.messages(master),
        reply.ack(),
        reply.messages(cannedLink({ index: 8, name: 'eth0.10', kind: 'vlan' })),
      ),
      ctr: new RecordingSocket().respond(reply.messages(child)),
      runner: ipam(),
    });
    await callVerb({ add: (inv) => add(inv, made.kernel) }, 'ADD', conf({ vlan: 10 }), { netns: d.netns, env: d.env });
    const alias = `tscni: VLAN sub-interface for CNI containers, removed with the last one (id ${vlanStateFile(d).token})`;

    const host = new RecordingSocket().respond(
      reply.messages(cannedLink({ index: 8, name: 'eth0.10', kind: 'vlan', alias })),
    );
    const ctr = new RecordingSocket().respond(reply.messages(child));
    const k = fakeKernel({ host, ctr, runner: new RecordingRunner() });
    const out = await callVerb({ del: (inv) => del(inv, k.kernel) }, 'DEL', conf({ vlan: 10 }), {
      netns: d.netns,
      env: d.env,
    });
    expect(out.code).toBe(0);
    expect(readdirSync(join(d.env['TSCNI_STATE_DIR'] ?? '', 'vlan')).filter((f) => f.endsWith('.json'))).toEqual([]);
    expectGolden(__dirname, 'del-vlan', k.plan({ cniPath: d.dir }));
  });
});
