/**
 * loopback's verbs against recording fakes (no root): the container's netlink requests as golden
 * text (`make golden` rewrites the files). There is nothing to roll back: ADD's one change is its
 * last step.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { IFF_LOOPBACK, IFF_UP } from '../../lib/netlink/constants';
import { cannedLink, RecordingSocket, reply } from '../../lib/netlink/fake';
import { fakeKernel, planDir, type PlanDir } from '../../lib/testutil/fake-kernel';
import { expectGolden } from '../../lib/testutil/golden';
import { addrMessage } from '../../lib/testutil/netlink-replies';
import { callVerb } from '../../lib/testutil/verbs';
import { add } from './add';
import { del } from './del';

let d: PlanDir;
beforeEach(() => {
  d = planDir();
});
afterEach(() => d.remove());

const conf = { cniVersion: '1.0.0', name: 'cni-loopback', type: 'loopback' };
const lo = (up: boolean): ReturnType<typeof reply.messages> =>
  reply.messages(
    cannedLink({ index: 1, name: 'lo', mtu: 65536, mac: '00:00:00:00:00:00', flags: IFF_LOOPBACK | (up ? IFF_UP : 0) }),
  );

describe('loopback plans', () => {
  it('ADD: lo up, its addresses read back for the result; nothing on the host', async () => {
    const ctr = new RecordingSocket().respond(
      lo(false),
      reply.ack(),
      reply.dump([addrMessage(1, '127.0.0.1/8')]),
      reply.dump([addrMessage(1, '::1/128')]),
    );
    const k = fakeKernel({ ctr });
    const out = await callVerb({ add: (inv) => add(inv, k.kernel) }, 'ADD', conf, {
      netns: d.netns,
      ifname: 'lo',
      env: d.env,
    });
    expect(out.json['ips']).toEqual([
      { interface: 0, address: '127.0.0.1/8' },
      { interface: 0, address: '::1/128' },
    ]);
    expectGolden(__dirname, 'add', k.plan());
  });

  it('DEL: lo down', async () => {
    const k = fakeKernel({ ctr: new RecordingSocket().respond(lo(true)) });
    const out = await callVerb({ del: (inv) => del(inv, k.kernel) }, 'DEL', conf, {
      netns: d.netns,
      ifname: 'lo',
      env: d.env,
    });
    expect(out.code).toBe(0);
    expectGolden(__dirname, 'del', k.plan());
  });

  it('DEL of a namespace already gone asks the kernel nothing', async () => {
    const k = fakeKernel();
    const out = await callVerb({ del: (inv) => del(inv, k.kernel) }, 'DEL', conf, { netns: `${d.dir}/gone` });
    expect(out.code).toBe(0);
    expect(k.plan()).toBe('');
  });
});
