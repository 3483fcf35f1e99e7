/**
 * bridge's verbs against recording fakes (no root): every netlink request in the host and the
 * container namespace, every sysctl and every program, as golden text. A change to what bridge
 * asks of the kernel shows up as a diff in review (`make golden` rewrites the files).
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RecordingRunner } from '../../lib/exec/recording';
import { resetBackendProbes } from '../../lib/firewall/backend';
import { chainName } from '../../lib/firewall/names';
import { cannedLink, RecordingSocket, reply } from '../../lib/netlink/fake';
import { fakeKernel, planDir, stableLine, type PlanDir } from '../../lib/testutil/fake-kernel';
import { expectGolden } from '../../lib/testutil/golden';
import { callVerb } from '../../lib/testutil/verbs';
import { add } from './add';
import { del } from './del';
import { gc } from './gc';

const IPAM_RESULT = JSON.stringify({
  cniVersion: '1.0.0',
  ips: [{ address: '10.10.0.2/24', gateway: '10.10.0.1' }],
  routes: [{ dst: '0.0.0.0/0' }],
});

let d: PlanDir;
beforeEach(() => {
  d = planDir(['host-local']); // the IPAM plugin the runner "runs"
  resetBackendProbes();
});
afterEach(() => d.remove());

/** Request lines made stable, one string (the dhcp timelines' own layout). */
const stable = (lines: readonly string[]): string => lines.map((l) => stableLine(l)).join('\n');

const conf = (extra: object = {}): object => ({
  cniVersion: '1.0.0',
  name: 'net1',
  type: 'bridge',
  bridge: 'cni0',
  isGateway: true,
  ipMasq: true,
  ipam: { type: 'host-local' },
  ...extra,
});

describe('bridge ADD plan', () => {
  it('new bridge: creates it, the veth pair, the gateway; configures the container; one firewall restore', async () => {
    const host = new RecordingSocket().respond(
      reply.error('ENODEV'), // no bridge yet
      reply.ack(), // bridge created
      reply.messages(cannedLink({ index: 2, name: 'cni0', kind: 'bridge', mac: '0a:00:00:00:00:01' })),
      reply.ack(), // mac pinned, up
      reply.ack(), // veth pair
      reply.messages(cannedLink({ index: 7, name: 'veth00000000', kind: 'veth' })),
    );
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink({ index: 3, name: 'eth0', kind: 'veth' })));
    const runner = new RecordingRunner()
      .on((c) => c.tool === 'plugin', { stdout: IPAM_RESULT })
      .on((c) => c.tool === 'iptables', { exitCode: 1 }); // nothing of ours in nat yet
    const k = fakeKernel({ host, ctr, runner });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf(), {
      netns: d.netns,
      env: d.env,
    });
    expect(out.json['msg']).toBeUndefined();
    expect(out.code).toBe(0);
    expect(out.json['ips']).toEqual([{ interface: 2, address: '10.10.0.2/24', gateway: '10.10.0.1' }]);
    expectGolden(__dirname, 'add-new-bridge', k.plan({ cniPath: d.dir }));
  });

  it('a failure in the container rolls back: veth deleted, masquerade and lease released', async () => {
    const host = new RecordingSocket().respond(
      reply.messages(cannedLink({ index: 2, name: 'cni0', kind: 'bridge', mac: '0a:00:00:00:00:01', up: true })),
      reply.ack(), // mac pinned, up
      reply.ack(), // veth pair
      reply.messages(cannedLink({ index: 7, name: 'veth00000000', kind: 'veth' })),
      reply.ack(), // master
      reply.ack(), // port flags
      reply.ack(), // up
      reply.dump([]), // bridge addresses
      reply.ack(), // gateway address
      reply.messages(cannedLink({ index: 7, name: 'veth00000000', kind: 'veth' })), // rollback: the veth is there
    );
    const ctr = new RecordingSocket().respond(
      reply.messages(cannedLink({ index: 3, name: 'eth0', kind: 'veth' })),
      reply.error('EADDRNOTAVAIL', 'injected'),
    );
    const runner = new RecordingRunner()
      .on((c) => c.tool === 'plugin', { stdout: IPAM_RESULT })
      .on((c) => c.tool === 'iptables', { exitCode: 1 });
    const k = fakeKernel({ host, ctr, runner });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf(), {
      netns: d.netns,
      env: d.env,
    });
    expect(out.code).toBe(1);
    expect(String(out.json['msg'])).toContain('EADDRNOTAVAIL');
    expectGolden(__dirname, 'add-rollback', k.plan({ cniPath: d.dir }));
  });
});

describe('bridge DEL plan', () => {
  it('deletes the container link, tears masquerade down in both backends, releases the lease', async () => {
    const host = new RecordingSocket();
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink({ index: 3, name: 'eth0', kind: 'veth' })));
    const runner = new RecordingRunner().on((c) => c.tool === 'iptables' || c.tool === 'ip6tables', {
      exitCode: 1,
    });
    const k = fakeKernel({ host, ctr, runner });
    const out = await callVerb({ del: (inv) => del(inv, k.kernel) }, 'DEL', conf(), {
      netns: d.netns,
      env: d.env,
    });
    expect(out.code).toBe(0);
    expect(host.requests).toEqual([]);
    expectGolden(__dirname, 'del', k.plan({ cniPath: d.dir, sortPrograms: true }));
  });
});

describe('bridge with a dhcp IPAM (it works through the container interface)', () => {
  /** One timeline: the host/container netlink requests made so far when the IPAM is called. */
  const timeline = (host: RecordingSocket, ctr: RecordingSocket, runner: RecordingRunner, events: string[]) =>
    runner.on(
      (c) => c.tool === 'plugin',
      (c) => {
        events.push(
          `-- IPAM ${c.env?.['CNI_COMMAND'] ?? '?'} after ${host.requests.length} host and ${ctr.requests.length} container requests`,
        );
        return { stdout: c.env?.['CNI_COMMAND'] === 'ADD' ? IPAM_RESULT : '' };
      },
    );

  it('ADD: bridge and veth first, then the IPAM, then the gateway and the container', async () => {
    writeFileSync(join(d.dir, 'dhcp'), '');
    const host = new RecordingSocket().respond(
      reply.error('ENODEV'),
      reply.ack(),
      reply.messages(cannedLink({ index: 2, name: 'cni0', kind: 'bridge', mac: '0a:00:00:00:00:01' })),
      reply.ack(),
      reply.ack(),
      reply.messages(cannedLink({ index: 7, name: 'veth00000000', kind: 'veth' })),
    );
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink({ index: 3, name: 'eth0', kind: 'veth' })));
    const events: string[] = [];
    const runner = timeline(host, ctr, new RecordingRunner(), events);
    const { kernel } = fakeKernel({ host, ctr, runner });
    const out = await callVerb(
      { add: (inv) => add(inv, kernel) },
      'ADD',
      conf({ ipMasq: false, ipam: { type: 'dhcp' } }),
      { netns: d.netns, env: d.env },
    );
    expect(out.json['msg']).toBeUndefined();
    expect(out.code).toBe(0);
    expectGolden(
      __dirname,
      'add-dhcp',
      ['# host netlink', stable(host.requests), '# container netlink', stable(ctr.requests), '# IPAM', ...events].join(
        '\n',
      ),
    );
  });

  it('DEL: the lease is released before the container link goes', async () => {
    writeFileSync(join(d.dir, 'dhcp'), '');
    const host = new RecordingSocket();
    const ctr = new RecordingSocket().respond(reply.messages(cannedLink({ index: 3, name: 'eth0', kind: 'veth' })));
    const events: string[] = [];
    const runner = timeline(host, ctr, new RecordingRunner(), events);
    const { kernel } = fakeKernel({ host, ctr, runner });
    const out = await callVerb(
      { del: (inv) => del(inv, kernel) },
      'DEL',
      conf({ ipMasq: false, ipam: { type: 'dhcp' } }),
      { netns: d.netns, env: d.env },
    );
    expect(out.code).toBe(0);
    expectGolden(__dirname, 'del-dhcp', ['# IPAM', ...events, '# container netlink', stable(ctr.requests)].join('\n'));
  });
});

describe('bridge GC', () => {
  it('every step runs; their failures come back as one error with the first code (IPAM’s) and every message', async () => {
    // A stale container's masquerade chain, which the restore that would remove it fails on.
    const chain = chainName('net1', 'gone');
    const comment = '-m comment --comment "name: \\"net1\\" id: \\"gone\\""';
    const save = `*nat\n:${chain} - [0:0]\n-A POSTROUTING -s 10.10.0.9/32 ${comment} -j ${chain}\nCOMMIT\n`;
    const runner = new RecordingRunner()
      .on((c) => c.tool === 'plugin', { exitCode: 1, stdout: '{"code":11,"msg":"failed to lock the IPAM store"}' })
      .on((c) => c.tool === 'iptables-save', { stdout: save })
      .on((c) => c.tool === 'iptables-restore', { exitCode: 4, stderr: 'resource busy' });
    const k = fakeKernel({ runner });
    const out = await callVerb(
      { gc: (inv) => gc(inv, k.kernel) },
      'GC',
      { ...conf({ cniVersion: '1.1.0' }), 'cni.dev/valid-attachments': [] },
      { env: d.env },
    );
    expect(out.code).toBe(1);
    expect(out.json).toMatchObject({ code: 11 });
    expect(out.json['msg']).toMatch(
      /^IPAM GC: failed to lock the IPAM store; masquerade GC: command failed \(exit code 4\): iptables-restore .*: resource busy$/,
    );
  });
});
