/**
 * sbr's verbs against a recording netlink socket (no root): every request it sends inside the
 * container, as golden text, for a dual-stack interface next to another one, a configured
 * `table`, a failure half-way (everything undone) and DEL; and the table choice.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import type { Kernel } from '../../lib/net/kernel';
import type { Route, Rule } from '../../lib/netlink';
import { RTPROT_KERNEL, RT_SCOPE_LINK, RT_TABLE_LOCAL, RT_TABLE_MAIN } from '../../lib/netlink/constants';
import { cannedLink, RecordingSocket, reply } from '../../lib/netlink/fake';
import { fakeKernel, planDir, type PlanDir } from '../../lib/testutil/fake-kernel';
import { expectGolden } from '../../lib/testutil/golden';
import { addrMessage, routeMessage, ruleMessage } from '../../lib/testutil/netlink-replies';
import { callVerb } from '../../lib/testutil/verbs';
import { add } from './add';
import { del } from './del';
import { nextFreeTable } from './plan';

let d: PlanDir;
let netns: string;
beforeEach(() => {
  d = planDir();
  netns = d.netns; // stands for the container's namespace file (and sbr's lock)
});
afterEach(() => d.remove());

const kernelOf = (ctr: RecordingSocket): Kernel => fakeKernel({ ctr }).kernel;

const PREV = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'net1', mac: '02:00:00:00:00:01', sandbox: '/run/netns/c' }],
  ips: [
    { interface: 0, address: '192.168.62.20/24', gateway: '192.168.62.1' },
    { interface: 0, address: 'fd00:62::20/64', gateway: 'fd00:62::1' },
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '10.62.0.0/16', gw: '192.168.62.100' }],
};
const conf = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'mv',
  type: 'sbr',
  prevResult: PREV,
  ...extra,
});

// net1 (index 3) as macvlan + static leave it, next to eth0 (index 2) with a rule into table 100.
const RULES = [
  ruleMessage({ family: 4, table: RT_TABLE_LOCAL, priority: 0 }),
  ruleMessage({ src: '10.0.0.5/32', table: 100, priority: 32765 }),
  ruleMessage({ family: 4, table: RT_TABLE_MAIN, priority: 32766 }),
  ruleMessage({ family: 6, table: RT_TABLE_MAIN, priority: 32766 }),
];
const kernelRoute = { protocol: RTPROT_KERNEL } as const;
const ROUTES = [
  routeMessage({ dst: 'default', gateway: '10.0.0.1', oif: 2 }),
  routeMessage({ dst: 'default', gateway: '192.168.62.1', oif: 3 }),
  routeMessage({ dst: '10.62.0.0/16', gateway: '192.168.62.100', oif: 3 }),
  routeMessage({ dst: '192.168.62.0/24', oif: 3, src: '192.168.62.20', scope: RT_SCOPE_LINK, ...kernelRoute }),
  routeMessage({ dst: '10.0.0.0/24', oif: 2, src: '10.0.0.5', scope: RT_SCOPE_LINK, ...kernelRoute }),
  routeMessage({ dst: '10.9.0.0/16', oif: 2, table: 101 }), // table 101 holds a route but no rule
  routeMessage({ dst: 'fd00:62::/64', oif: 3, metric: 256, ...kernelRoute }),
  routeMessage({ dst: 'fe80::/64', oif: 3, metric: 256, ...kernelRoute }),
  routeMessage({ dst: 'default', gateway: 'fd00:62::1', oif: 3, metric: 1024 }),
];
const NET1 = cannedLink({ index: 3, name: 'net1', kind: 'macvlan', up: true });

const golden = (name: string, ctr: RecordingSocket): void =>
  expectGolden(__dirname, name, ['# container netlink', ...ctr.requests].join('\n'));

describe('sbr ADD plan', () => {
  it('a table per address (the first free from 100: no rule and no route in it), routes copied, main emptied', async () => {
    const ctr = new RecordingSocket().respond(reply.dump(RULES), reply.dump(ROUTES), reply.messages(NET1));
    const out = await callVerb({ add: (inv) => add(inv, kernelOf(ctr)) }, 'ADD', conf(), { netns, ifname: 'net1' });
    expect(out.json['msg']).toBeUndefined();
    expect(out.json).toEqual(PREV);
    golden('add-tables', ctr);
  });

  it('with `table`: one rule per address into it, nothing else', async () => {
    const ctr = new RecordingSocket();
    const out = await callVerb({ add: (inv) => add(inv, kernelOf(ctr)) }, 'ADD', conf({ table: 5000 }), {
      netns,
      ifname: 'net1',
    });
    expect(out.code).toBe(0);
    golden('add-fixed-table', ctr);
  });

  it('a failure half-way undoes every step before it and reports the reference message', async () => {
    const ctr = new RecordingSocket().respond(
      reply.dump(RULES),
      reply.dump(ROUTES),
      reply.messages(NET1),
      reply.ack(), // rule
      reply.ack(), // default route
      reply.ack(), // copy of the default route
      reply.error('ENETUNREACH', 'Nexthop has invalid gateway'), // copy of 10.62.0.0/16
    );
    const out = await callVerb({ add: (inv) => add(inv, kernelOf(ctr)) }, 'ADD', conf(), { netns, ifname: 'net1' });
    expect(out.json).toMatchObject({ code: 999, msg: expect.stringMatching(/^Failed to readd route: /) });
    golden('add-rollback', ctr);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no prevResult', { prevResult: undefined }, 'This plugin must be called as chained plugin'],
    ['no IPs', { prevResult: { ...PREV, ips: [] } }, 'No IP addresses supplied on interface: net1'],
    [
      'only IPs of another interface',
      {
        prevResult: {
          ...PREV,
          interfaces: [{ name: 'eth0' }, { name: 'net1' }],
          ips: [{ interface: 0, address: '10.0.0.5/24' }],
        },
      },
      'No IP addresses supplied on interface: net1',
    ],
    ['a bad table', { table: 0 }, 'invalid table 0: must be between 1 and 4294967295'],
  ])('%s: code 7, nothing sent', async (_name, extra, msg) => {
    const ctr = new RecordingSocket();
    const out = await callVerb({ add: (inv) => add(inv, kernelOf(ctr)) }, 'ADD', conf(extra), {
      netns,
      ifname: 'net1',
    });
    expect(out.json).toMatchObject({ code: 7, msg });
    expect(ctr.requests).toEqual([]);
  });
});

describe('sbr DEL plan', () => {
  it('removes the rules whose source is an address of the interface or of prevResult', async () => {
    const ctr = new RecordingSocket().respond(
      reply.dump([
        ...RULES,
        ruleMessage({ src: '192.168.62.20/32', table: 101, priority: 32764 }),
        ruleMessage({ src: 'fd00:62::20/128', table: 102, priority: 32764 }),
        ruleMessage({ src: '192.168.62.99/32', table: 103, priority: 32763 }), // left by an earlier address
      ]),
      reply.messages(NET1),
      reply.dump([addrMessage(3, '192.168.62.99/24')]), // the interface's addresses now
    );
    const out = await callVerb({ del: (inv) => del(inv, kernelOf(ctr)) }, 'DEL', conf(), { netns, ifname: 'net1' });
    expect(out.code).toBe(0);
    golden('del', ctr);
  });

  it('without the namespace there is nothing to do', async () => {
    const ctr = new RecordingSocket();
    const out = await callVerb({ del: (inv) => del(inv, kernelOf(ctr)) }, 'DEL', conf({ table: 'x' }), {
      netns: join(d.dir, 'gone'),
      ifname: 'net1',
    });
    expect(out.code).toBe(0);
    expect(ctr.requests).toEqual([]);
  });
});

describe('the table choice', () => {
  const rule = (table: number): Rule => ({ family: 4, priority: 1, table, action: 1, tos: 0, flags: 0 });
  const route = (table: number): Route => ({
    family: 4,
    dst: '0.0.0.0/0',
    table,
    scope: 0,
    protocol: 3,
    type: 1,
    flags: 0,
  });
  it('skips tables named by a rule or holding a route, in any table', () => {
    expect(nextFreeTable({ rules: [], routes: [] }, 100)).toBe(100);
    expect(nextFreeTable({ rules: [rule(100), rule(102)], routes: [route(101), route(254)] }, 100)).toBe(103);
  });
});
