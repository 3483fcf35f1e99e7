/**
 * sbr against the real kernel and the reference, in a sandbox: twin containers get the same
 * interface (our macvlan + static), then ours or the reference's sbr; rules, routes of every
 * table and the printed result must be the same after ADD and after DEL. Then traffic: with
 * sbr, a container with two interfaces answers from its second address through that
 * interface's gateway. Then what the reference gets wrong: DEL without the interface or the
 * namespace, a table that still holds routes; and the `table` key (v1.9, not in Debian's 1.1.1).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR, Sandbox, runOk, type RunResult } from '../../lib/testutil/sandbox';
import { addUnderlay } from '../../lib/testutil/underlay';
import { waitFor } from '../../lib/testutil/wait';

const OURS = join(BIN_DIR, 'sbr');
const REF = join(REFERENCE_DIR, 'sbr');
let sb: Sandbox;

beforeAll(async () => {
  sb = await Sandbox.create('sbr');
  await addUnderlay(sb, { master: 'phys0', outside: 'outa', subnet: '192.168.62', defaultRoute: false });
  await addUnderlay(sb, { master: 'phys1', outside: 'outb', subnet: '192.168.63', defaultRoute: false });
  // A far address only outb knows: reachable from the containers through net1's gateway alone.
  await runOk(['ip', '-n', sb.nsName('outb'), 'addr', 'add', '10.63.0.1/32', 'dev', 'lo']);
});
afterAll(async () => sb?.destroy());

type Json = Record<string, unknown>;
const ns = (ctr: string): string => `/run/netns/${sb.nsName(ctr)}`;

function macvlan(master: string, addresses: Json[], routes: Json[] = []): Json {
  return {
    cniVersion: '1.0.0',
    name: `mv-${master}`,
    type: 'macvlan',
    master,
    ipam: { type: 'static', addresses, routes },
  };
}

async function attach(ctr: string, ifName: string, conf: Json): Promise<Json> {
  const r = await sb.runPlugin(
    join(BIN_DIR, 'macvlan'),
    { command: 'ADD', containerId: `id-${ctr}`, netns: ns(ctr), ifName },
    conf,
  );
  if (r.code !== 0) throw new Error(`macvlan ADD ${ctr}/${ifName}: ${r.stdout}`);
  return r.json as Json;
}

const sbrConf = (prevResult: unknown, extra: Json = {}): Json => ({
  cniVersion: '1.0.0',
  name: 'mv-phys1',
  type: 'sbr',
  prevResult,
  ...extra,
});
const sbr = (exe: string, command: string, ctr: string, conf: Json, netns = ns(ctr)): Promise<RunResult> =>
  sb.runPlugin(exe, { command, containerId: `id-${ctr}`, netns, ifName: 'net1' }, conf);

/** Rules and every table's routes but `local`, with names instead of indexes. */
async function routing(ctr: string): Promise<unknown> {
  const json = async (args: string[]): Promise<Json[]> => (await sb.exec(ctr, ['ip', '-j', ...args])).json as Json[];
  const routes = [
    ...(await json(['-4', 'route', 'show', 'table', 'all'])),
    ...(await json(['-6', 'route', 'show', 'table', 'all'])),
  ]
    .filter((r) => r['table'] !== 'local' && !String(r['dst']).startsWith('ff00'))
    .map((r) => JSON.stringify(r))
    .sort();
  return {
    rules4: await json(['-4', 'rule', 'show']),
    rules6: await json(['-6', 'rule', 'show']),
    routes,
  };
}

/** A container with net1 (after `prepare`); returns macvlan's result. */
async function twin(ctr: string, net1: Json, prepare: string[][] = []): Promise<Json> {
  await sb.addContainer(ctr);
  for (const argv of prepare) await runOk(['ip', '-n', sb.nsName(ctr), ...argv]);
  return attach(ctr, 'net1', net1);
}

/** Twin containers with the same interfaces; `prepare` runs in each first. */
async function twins(tag: string, net1: Json, prepare: string[][] = []): Promise<Record<'ours' | 'ref', Json>> {
  const prev: Record<string, Json> = {};
  for (const who of ['ours', 'ref'] as const) {
    const ctr = `${tag}-${who}`;
    await sb.addContainer(ctr);
    for (const argv of prepare) await runOk(['ip', '-n', sb.nsName(ctr), ...argv]);
    prev[who] = await attach(ctr, 'net1', net1);
  }
  return prev as Record<'ours' | 'ref', Json>;
}

/** The printed result with names and MACs made equal; v1.1.1 prints an empty `"dns": {}`. */
function normalized(r: RunResult, ctr: string): unknown {
  const j = JSON.parse(
    r.stdout.replace(new RegExp(sb.nsName(ctr), 'g'), 'NS').replace(/"mac": "[^"]*"/g, '"mac": "M"'),
  ) as Json;
  if (JSON.stringify(j['dns']) === '{}') delete j['dns'];
  return j;
}

describe('differential: the reference sbr on a twin container', () => {
  const cases: Array<[string, Json, string[][]]> = [
    [
      'dual-stack with routes, a rule into table 100 already there',
      macvlan(
        'phys1',
        [
          { address: '192.168.63.21/24', gateway: '192.168.63.100' },
          { address: 'fd00:63::21/64', gateway: 'fd00:63::100' },
        ],
        [{ dst: '10.63.0.0/16' }, { dst: '10.64.0.0/16', gw: '192.168.63.1' }],
      ),
      [['rule', 'add', 'from', '10.0.0.5', 'lookup', '100']],
    ],
    [
      'two addresses of one subnet, one without a gateway',
      macvlan('phys1', [{ address: '192.168.63.31/24', gateway: '192.168.63.100' }, { address: '192.168.63.32/24' }]),
      [],
    ],
  ];

  it.each(cases)('%s: same result, rules and routes after ADD and after DEL', async (_name, net1, prepare) => {
    const tag = `d${cases.findIndex((c) => c[1] === net1)}`;
    const seen: Record<string, { result: unknown; added: unknown; deleted: unknown }> = {};
    // One side after the other: the twins hold the same addresses (IPv6 DAD would see both).
    for (const [who, exe] of [
      ['ours', OURS],
      ['ref', REF],
    ] as const) {
      const ctr = `${tag}-${who}`;
      const prev = (await twin(ctr, net1, prepare)) as Json;
      const add = await sbr(exe, 'ADD', ctr, sbrConf(prev));
      expect(add.stdout).not.toContain('"code"');
      const added = await routing(ctr);
      // Our CHECK verifies the rules and tables, also those the reference made; its own checks nothing.
      expect((await sbr(OURS, 'CHECK', ctr, sbrConf(add.json))).code).toBe(0);
      expect((await sbr(exe, 'DEL', ctr, sbrConf(add.json))).code).toBe(0);
      const deleted = await routing(ctr);
      // A second DEL has nothing left to do.
      expect((await sbr(exe, 'DEL', ctr, sbrConf(add.json))).code).toBe(0);
      seen[who] = { result: normalized(add, ctr), added, deleted };
      await sb.removeContainer(ctr);
    }
    expect(seen['ours']).toEqual(seen['ref']);
    expect(JSON.stringify(seen['ours']?.added)).toContain('"table":"101"');
  });
});

describe('traffic: the second interface answers through its own gateway', () => {
  it('from net1’s address, a far host only net1’s gateway knows is reached once sbr is in place', async () => {
    await sb.addContainer('t');
    await attach(
      't',
      'eth0',
      macvlan('phys0', [{ address: '192.168.62.41/24', gateway: '192.168.62.100' }], [{ dst: '0.0.0.0/0' }]),
    );
    const prev = await attach(
      't',
      'net1',
      macvlan('phys1', [{ address: '192.168.63.41/24', gateway: '192.168.63.100' }]),
    );
    const ping = async (): Promise<boolean> =>
      (await sb.exec('t', ['ping', '-c', '1', '-W', '1', '-I', '192.168.63.41', '10.63.0.1'])).code === 0;
    const via = async (): Promise<string> =>
      (await sb.exec('t', ['ip', 'route', 'get', '10.63.0.1', 'from', '192.168.63.41'])).stdout;
    expect(await via()).toContain('dev eth0');
    expect(await ping()).toBe(false);
    const r = await sbr(OURS, 'ADD', 't', sbrConf(prev));
    expect(r.stdout).not.toContain('"code"');
    expect(await via()).toMatch(/via 192\.168\.63\.100 dev net1 table 100/);
    await waitFor('a ping from net1’s address to the far host', ping);
    // Traffic from eth0's address still leaves by the main table.
    expect((await sb.exec('t', ['ip', 'route', 'get', '10.63.0.1'])).stdout).toContain('dev eth0');
    // CHECK notices a rule that went away.
    await sb.exec('t', ['ip', 'rule', 'del', 'from', '192.168.63.41']);
    expect((await sbr(OURS, 'CHECK', 't', sbrConf(r.json))).json).toMatchObject({
      msg: 'no rule for source 192.168.63.41 on interface net1',
    });
    expect((await sbr(OURS, 'DEL', 't', sbrConf(r.json))).code).toBe(0);
  });
});

describe('where the reference falls short', () => {
  it('DEL after the interface is gone: ours removes the rules by prevResult; v1.1.1 fails', async () => {
    const prev = await twins('g', macvlan('phys1', [{ address: '192.168.63.51/24', gateway: '192.168.63.100' }]));
    const add = {
      ours: await sbr(OURS, 'ADD', 'g-ours', sbrConf(prev.ours)),
      ref: await sbr(REF, 'ADD', 'g-ref', sbrConf(prev.ref)),
    };
    for (const who of ['ours', 'ref'] as const) await sb.exec(`g-${who}`, ['ip', 'link', 'del', 'net1']);
    expect((await sbr(OURS, 'DEL', 'g-ours', sbrConf(add.ours.json))).code).toBe(0);
    expect(JSON.stringify(await routing('g-ours'))).not.toContain('192.168.63.51');
    const ref = await sbr(REF, 'DEL', 'g-ref', sbrConf(add.ref.json));
    expect(ref.json).toMatchObject({ msg: 'Failed to get link net1: Link not found' });
    expect(JSON.stringify(await routing('g-ref'))).toContain('192.168.63.51');
  });

  it('DEL without the namespace, or with it gone: nothing to do, no file made', async () => {
    const gone = `/run/netns/${sb.prefix}-never-existed`;
    expect((await sbr(OURS, 'DEL', 'x', sbrConf(undefined), gone)).code).toBe(0);
    expect((await sbr(OURS, 'DEL', 'x', sbrConf(undefined), '')).code).toBe(0);
    expect(existsSync(gone)).toBe(false);
    // The reference locks the path by creating it, then fails to enter it.
    const ref = await sbr(REF, 'DEL', 'x', sbrConf(undefined), gone);
    expect(ref.code).not.toBe(0);
    rmSync(gone, { force: true });
  });

  it('a table that still holds routes is not handed out (the reference looks at main only)', async () => {
    const prepare = [['route', 'add', 'blackhole', '10.99.0.0/16', 'table', '100']];
    const prev = await twins(
      'h',
      macvlan('phys1', [{ address: '192.168.63.61/24', gateway: '192.168.63.100' }]),
      prepare,
    );
    const ours = await sbr(OURS, 'ADD', 'h-ours', sbrConf(prev.ours));
    expect(ours.stdout).not.toContain('"code"');
    expect((await sb.exec('h-ours', ['ip', 'rule', 'show'])).stdout).toContain('from 192.168.63.61 lookup 101');
    // The reference takes table 100, mixing its routes with the blackhole there.
    expect((await sbr(REF, 'ADD', 'h-ref', sbrConf(prev.ref))).code).toBe(0);
    expect((await sb.exec('h-ref', ['ip', 'rule', 'show'])).stdout).toContain('from 192.168.63.61 lookup 100');
  });

  it('`table`: one rule per address into it, the table left to the operator', async () => {
    await sb.addContainer('k');
    const prev = await attach(
      'k',
      'net1',
      macvlan('phys1', [{ address: '192.168.63.71/24', gateway: '192.168.63.100' }]),
    );
    await runOk(['ip', '-n', sb.nsName('k'), 'route', 'add', 'default', 'via', '192.168.63.100', 'table', '5000']);
    const conf = sbrConf(prev, { table: 5000 });
    const before = (await sb.exec('k', ['ip', '-j', 'route', 'show'])).stdout;
    expect((await sbr(OURS, 'ADD', 'k', conf)).code).toBe(0);
    expect((await sb.exec('k', ['ip', 'rule', 'show'])).stdout).toContain('from 192.168.63.71 lookup 5000');
    expect((await sb.exec('k', ['ip', '-j', 'route', 'show'])).stdout).toBe(before);
    expect((await sbr(OURS, 'CHECK', 'k', conf)).code).toBe(0);
    expect((await sbr(OURS, 'DEL', 'k', conf)).code).toBe(0);
    expect((await sb.exec('k', ['ip', 'rule', 'show'])).stdout).not.toContain('5000');
    expect((await sb.exec('k', ['ip', 'route', 'show', 'table', '5000'])).stdout).toContain(
      'default via 192.168.63.100',
    );
  });
});
