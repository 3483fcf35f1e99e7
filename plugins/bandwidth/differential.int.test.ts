/**
 * Differential tests: bin/bandwidth against the reference /usr/lib/cni/bandwidth (v1.1.1), each
 * chained after our bridge (or ptp) in its own container of one sandbox. The same stdin must give
 * the same result (MACs and veth names aside) and the same kernel state after every verb, as
 * iproute2 reports it (`tc -j`, `ip -j`); where the reference is wrong the test pins both
 * behaviours (README, Deliberate differences). Also: each implementation's CHECK and DEL on what
 * the other's ADD made, errors, CHECK after tampering, DEL without netns or prevResult, GC, and
 * the kernel state of unshapedSubnets / shapedSubnets, and hostile names, limits and planted ifbs.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../../lib/testutil/sandbox';
import { requireProgram } from '../../lib/testutil/programs';
import { ifbName, networkTag } from './names';

const OURS = join(BIN_DIR, 'bandwidth');
const REF = join(REFERENCE_DIR, 'bandwidth');
const NET = 'bwdiff';
const LIMITS = { ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 8_000_000, egressBurst: 80_000 };

let sb: Sandbox;
let seq = 0;

beforeAll(async () => {
  requireProgram('tc');
  if (!existsSync(OURS)) throw new Error(`${OURS} missing: run make build`);
  if (!existsSync(REF)) throw new Error(`${REF} missing: apt-get install containernetworking-plugins`);
  sb = await Sandbox.create('bwdiff');
  mkdirSync(join(sb.dir, 'ipam'));
});
afterAll(async () => sb?.destroy());

type Json = Record<string, unknown>;
type Main = 'bridge' | 'ptp';

interface Attachment {
  readonly id: string;
  readonly netns: string;
  readonly main: Main;
  readonly version: string;
  readonly prev: Json;
  readonly hostVeth: string;
  readonly ifb: string;
}

const mainConf = (main: Main, version: string): Json => ({
  cniVersion: version,
  name: NET,
  type: main,
  ...(main === 'bridge' ? { bridge: 'bwdiff0', isGateway: true } : {}),
  ipam: { type: 'host-local', subnet: '10.77.0.0/16', dataDir: join(sb.dir, 'ipam') },
});

/** A container wired by our bridge (or ptp); its host-side veth is what bandwidth shapes. */
async function attach(main: Main = 'bridge', version = '1.0.0'): Promise<Attachment> {
  const id = `bw${++seq}`;
  const netns = await sb.addContainer(id);
  const r = await sb.runPlugin(
    join(BIN_DIR, main),
    { command: 'ADD', containerId: id, netns, ifName: 'eth0' },
    mainConf(main, version),
  );
  if (r.code !== 0) throw new Error(`${main} ADD failed: ${r.stdout}${r.stderr}`);
  const prev = r.json as Json;
  const veth = await sb.exec('host', ['ip', '-j', 'link', 'show', 'type', 'veth']);
  const peerOf = await sb.exec(id, ['ip', '-j', 'link', 'show', 'eth0']);
  const peerIndex = ((peerOf.json as Json[])[0]?.['link_index'] as number) ?? -1;
  const hostVeth = ((veth.json as Json[]).find((l) => l['ifindex'] === peerIndex)?.['ifname'] as string) ?? '';
  return { id, netns, main, version, prev, hostVeth, ifb: ifbName(NET, id) };
}

async function detach(a: Attachment): Promise<void> {
  await sb.runPlugin(
    join(BIN_DIR, a.main),
    { command: 'DEL', containerId: a.id, netns: a.netns, ifName: 'eth0' },
    mainConf(a.main, a.version),
  );
  await sb.removeContainer(a.id);
}

const conf = (a: Attachment, extra: Json = LIMITS, withPrev = true): Json => ({
  cniVersion: a.version,
  name: NET,
  type: 'bandwidth',
  ...extra,
  ...(withPrev ? { prevResult: a.prev } : {}),
});

function bw(bin: string, command: string, a: Attachment, config: Json, netns = a.netns): Promise<RunResult> {
  return sb.runPlugin(bin, { command, containerId: a.id, netns, ifName: 'eth0' }, config);
}

/** A result with the per-run names and MACs replaced. */
function norm(r: RunResult, a: Attachment): unknown {
  const j = r.json as Json | undefined;
  if (!j) return { code: r.code };
  const text = JSON.stringify(j)
    .split(a.hostVeth)
    .join('<veth>')
    .replace(/"([0-9a-f]{2}:){5}[0-9a-f]{2}"/g, '"<mac>"');
  const out = JSON.parse(text) as Json;
  if ('code' in out) delete out['cniVersion'];
  if (out['dns'] && Object.keys(out['dns'] as Json).length === 0) delete out['dns'];
  return { code: r.code, ...out };
}

/**
 * The attachment's traffic control as iproute2 reports it: the qdiscs of its veth and ifb, the
 * filters on the veth's ingress (without action indexes), and the ifb's link. With `ref`, the
 * reference's second, unreachable mirred action (its netlink library adds the redirect twice,
 * the second copy after the first has already stolen the packet) is checked and left out.
 */
async function tcState(a: Attachment, ref = false): Promise<Json> {
  const names = (s: string): string => s.split(a.hostVeth).join('VETH').split(a.ifb).join('IFB');
  const qdiscs = ((await sb.exec('host', ['tc', '-j', 'qdisc', 'show'])).json as Json[])
    .filter((q) => q['dev'] === a.hostVeth || q['dev'] === a.ifb)
    .map((q) => JSON.parse(names(JSON.stringify(q))) as Json);
  const f = await sb.exec('host', ['tc', '-j', 'filter', 'show', 'dev', a.hostVeth, 'ingress']);
  const filters = ((f.json as Json[] | undefined) ?? []).map((x) => {
    const opts = x['options'] as Json | undefined;
    const actions = (opts?.['actions'] as Json[] | undefined)?.map(({ index: _i, ref: _r, bind: _b, ...rest }) => rest);
    if (ref && actions) {
      expect(actions[1]).toMatchObject({
        order: 2,
        kind: 'mirred',
        mirred_action: 'redirect',
        control_action: { type: 'pass' },
      });
      actions.splice(1, 1);
    }
    return JSON.parse(names(JSON.stringify(actions ? { ...x, options: { ...opts, actions } } : x))) as Json;
  });
  const l = await sb.exec('host', ['ip', '-j', '-d', 'link', 'show', 'dev', a.ifb]);
  const ifb = l.code === 0 ? (l.json as Json[])[0] : undefined;
  return {
    qdiscs,
    filters,
    ifb: ifb && {
      flags: ifb['flags'],
      mtu: ifb['mtu'],
      qdisc: ifb['qdisc'],
      txqlen: ifb['txqlen'] ?? 0,
      operstate: ifb['operstate'],
      kind: (ifb['linkinfo'] as Json | undefined)?.['info_kind'],
      alias: ifb['ifalias'] === undefined ? 'none' : 'tscni',
    },
  };
}

/** A veth with nothing on it. */
const BARE = { qdiscs: [expect.objectContaining({ kind: 'noqueue' })], filters: [], ifb: undefined };

/** The ifb alias is ours alone (GC and DEL without netns read it): the one difference in the link. */
const withoutAlias = (s: Json): Json => (s['ifb'] ? { ...s, ifb: { ...(s['ifb'] as Json), alias: 'any' } } : s);

describe('bandwidth vs reference: same stdin, same result, same kernel state', () => {
  it.each<[Main, string, Json]>([
    ['bridge', '1.0.0', LIMITS],
    ['bridge', '0.4.0', LIMITS],
    ['bridge', '0.3.1', LIMITS],
    ['ptp', '1.0.0', LIMITS],
    ['bridge', '1.0.0', { ingressRate: 8_000_000, ingressBurst: 80_000 }],
    ['bridge', '1.0.0', { egressRate: 100_000_000, egressBurst: 1_000_000 }],
    [
      'ptp',
      '0.4.0',
      {
        runtimeConfig: {
          bandwidth: {
            ingressRate: 1_000_000_000,
            ingressBurst: 4294967295,
            egressRate: 1_000_000_000,
            egressBurst: 4294967295,
          },
        },
      },
    ],
  ])('after %s, cniVersion %s, %j: ADD, CHECK, DEL', async (main, version, limits) => {
    // One container, the same stdin for both: ours first (its DEL leaves the veth bare), then the reference.
    const a = await attach(main, version);
    const run = async (
      bin: string,
      ref: boolean,
    ): Promise<{ add: RunResult; added: Json; check?: RunResult; deleted: Json }> => {
      const add = await bw(bin, 'ADD', a, conf(a, limits));
      const added = await tcState(a, ref);
      const check =
        version === '0.3.1' ? undefined : await bw(bin, 'CHECK', a, { ...conf(a, limits), prevResult: add.json });
      expect((await bw(bin, 'DEL', a, conf(a, limits))).code).toBe(0);
      return { add, added, check, deleted: await tcState(a, ref) };
    };
    const o = await run(OURS, false);
    const r = await run(REF, true);
    expect(o.add.code).toBe(0);
    expect(norm(o.add, a)).toEqual(norm(r.add, a));
    expect(withoutAlias(o.added)).toEqual(withoutAlias(r.added));
    if (o.added['ifb']) expect((o.added['ifb'] as Json)['alias']).toBe('tscni');
    expect(o.check && { code: o.check.code, out: o.check.stdout }).toEqual(r.check && { code: 0, out: '' });
    // After DEL nothing of ours is left; the reference deletes the ifb but leaves the veth's
    // qdiscs (with the egress redirect still pointing at the deleted ifb).
    expect(o.deleted).toEqual(BARE);
    expect(r.deleted['ifb']).toBeUndefined();
    if (limits['ingressRate'] || limits['runtimeConfig'])
      expect(r.deleted['qdiscs']).toContainEqual(expect.objectContaining({ kind: 'tbf', dev: 'VETH' }));
    // Our DEL after the reference's removes what it left; a second DEL finds nothing and succeeds.
    expect((await bw(OURS, 'DEL', a, conf(a, limits))).code).toBe(0);
    expect(await tcState(a)).toEqual(BARE);
    expect((await bw(OURS, 'DEL', a, conf(a, limits))).code).toBe(0);
    await detach(a);
    expect(await tcState(a)).toEqual({ qdiscs: [], filters: [], ifb: undefined });
  });

  it("each reads the other's work: CHECK passes, and our DEL removes everything the reference's ADD made", async () => {
    const [a, b] = [await attach(), await attach()];
    const addA = await bw(REF, 'ADD', a, conf(a));
    const addB = await bw(OURS, 'ADD', b, conf(b));
    expect((await bw(OURS, 'CHECK', a, { ...conf(a), prevResult: addA.json })).code).toBe(0);
    expect((await bw(REF, 'CHECK', b, { ...conf(b), prevResult: addB.json })).code).toBe(0);
    expect((await bw(OURS, 'DEL', a, conf(a))).code).toBe(0);
    expect(await tcState(a)).toEqual({
      qdiscs: [expect.objectContaining({ kind: 'noqueue' })],
      filters: [],
      ifb: undefined,
    });
    expect((await bw(REF, 'DEL', b, conf(b))).code).toBe(0);
    expect((await tcState(b))['ifb']).toBeUndefined();
    await detach(a);
    await detach(b);
  });

  it.each<[string, Json, boolean]>([
    ['rate without burst', { ingressRate: 8000 }, true],
    ['burst without rate', { egressBurst: 8000 }, true],
    ['a burst of 4 GB', { ingressRate: 8000, ingressBurst: 34359738360 }, true],
    ['a limit but no prevResult', LIMITS, false],
    ['a capability limit without burst', { runtimeConfig: { bandwidth: { egressRate: 8000 } } }, true],
  ])('%s: the same message (code 7 where the reference says 999), nothing changed', async (_what, extra, withPrev) => {
    const a = await attach();
    const [o, r] = [
      await bw(OURS, 'ADD', a, conf(a, extra, withPrev)),
      await bw(REF, 'ADD', a, conf(a, extra, withPrev)),
    ];
    expect(r.json).toMatchObject({ code: 999 });
    expect(o.json).toMatchObject({ code: 7, msg: (r.json as Json)['msg'] });
    expect(await tcState(a)).toEqual({
      qdiscs: [expect.objectContaining({ kind: 'noqueue' })],
      filters: [],
      ifb: undefined,
    });
    await detach(a);
  });

  it('the container interface is not a veth: the same message; nothing to shape and no prevResult: an empty result where the reference crashes', async () => {
    const a = await attach();
    await sb.exec(a.id, ['ip', 'link', 'set', 'eth0', 'name', 'eth9']);
    const [o, r] = [await bw(OURS, 'ADD', a, conf(a)), await bw(REF, 'ADD', a, conf(a))];
    expect((o.json as Json)['msg']).toBe('container interface eth0 has no veth peer');
    expect((r.json as Json)['msg']).toMatch(/^container interface eth0 has no veth peer: /);
    const bare = { cniVersion: '1.0.0', name: NET, type: 'bandwidth' };
    const [o2, r2] = [await bw(OURS, 'ADD', a, bare), await bw(REF, 'ADD', a, bare)];
    expect(o2).toMatchObject({ code: 0, json: { cniVersion: '1.0.0' } });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('panic');
    await sb.exec(a.id, ['ip', 'link', 'set', 'eth9', 'name', 'eth0']);
    await detach(a);
  });

  it("containerd's 2^32-1-bit burst at 10 Mbit/s: ours is the largest bucket the kernel holds, the reference's wraps around", async () => {
    const a = await attach();
    const limits = { runtimeConfig: { bandwidth: { IngressRate: 10_000_000, IngressBurst: 2 ** 32 - 1 } } };
    const burstOf = async (): Promise<unknown> =>
      ((await tcState(a))['qdiscs'] as Json[]).map((q) => (q['options'] as Json | undefined)?.['burst']);
    expect((await bw(OURS, 'ADD', a, conf(a, limits))).code).toBe(0);
    const ours = await burstOf();
    expect((await bw(OURS, 'DEL', a, conf(a, limits))).code).toBe(0);
    expect((await bw(REF, 'ADD', a, conf(a, limits))).code).toBe(0);
    const ref = await burstOf();
    // (2^32-1) ticks of 64 ns at 1.25 MB/s; the reference: 6710886375 ticks wrapped to 2415919079.
    expect(ours).toEqual([343597382]);
    expect(ref).toEqual([193273526]);
    expect((await bw(OURS, 'DEL', a, conf(a, limits))).code).toBe(0);
    await detach(a);
  });

  it('DEL of a config ADD would refuse still cleans up (the reference fails, and is retried for ever)', async () => {
    const a = await attach();
    expect((await bw(OURS, 'ADD', a, conf(a))).code).toBe(0);
    const bad = conf(a, { ingressRate: 8000, egressRate: 'fast' });
    expect((await bw(REF, 'DEL', a, bad)).json).toMatchObject({ code: 999 });
    expect((await bw(OURS, 'DEL', a, bad)).code).toBe(0);
    expect(await tcState(a)).toEqual(BARE);
    await detach(a);
  });

  it('a repeated ADD fails and leaves the first one as it was', async () => {
    const a = await attach();
    expect((await bw(OURS, 'ADD', a, conf(a))).code).toBe(0);
    const before = await tcState(a);
    const again = await bw(OURS, 'ADD', a, conf(a));
    expect(again.json).toMatchObject({ code: 999, msg: expect.stringContaining('EEXIST') });
    expect(await tcState(a)).toEqual(before);
    expect((await bw(OURS, 'DEL', a, conf(a))).code).toBe(0);
    await detach(a);
  });
});

describe('CHECK after tampering', () => {
  const tbfAt4Mbit = ['tc', 'qdisc', 'change', 'root', 'tbf', 'rate', '4mbit', 'burst', '10000', 'latency', '25ms'];
  it.each<[string, string, number, (a: Attachment) => string[]]>([
    ['the veth lost its tbf', 'Failed to find qdisc', 0, (a) => ['tc', 'qdisc', 'del', 'dev', a.hostVeth, 'root']],
    [
      'the tbf has another rate',
      "Rate doesn't match",
      1,
      (a) => [...tbfAt4Mbit.slice(0, 3), 'dev', a.hostVeth, ...tbfAt4Mbit.slice(3)],
    ],
    ['the ifb is gone', 'get ifb device: Link not found', 1, (a) => ['ip', 'link', 'del', a.ifb]],
    ['the redirect is gone', 'Failed to find filter', 0, (a) => ['tc', 'filter', 'del', 'dev', a.hostVeth, 'ingress']],
  ])('%s: ours fails (%s); the reference exits %d', async (_what, msg, refCode, tamper) => {
    const a = await attach();
    const add = await bw(OURS, 'ADD', a, conf(a));
    expect((await sb.exec('host', tamper(a))).code).toBe(0);
    const checkConf = { ...conf(a), prevResult: add.json };
    expect(await bw(OURS, 'CHECK', a, checkConf)).toMatchObject({ code: 1, json: { msg } });
    // The reference stops at the first qdisc that is not a tbf, and never looks at the redirect.
    expect((await bw(REF, 'CHECK', a, checkConf)).code).toBe(refCode);
    expect((await bw(OURS, 'DEL', a, conf(a))).code).toBe(0);
    await detach(a);
  });
});

describe('DEL without the namespace or prevResult, and GC', () => {
  it("ours finds the shaped veth through the ifb's alias and removes its qdiscs; the reference only the ifb", async () => {
    const [o, r] = [await attach(), await attach()];
    await bw(OURS, 'ADD', o, conf(o));
    await bw(REF, 'ADD', r, conf(r));
    expect((await bw(OURS, 'DEL', o, conf(o, LIMITS, false), '')).code).toBe(0);
    expect((await bw(REF, 'DEL', r, conf(r, LIMITS, false), '')).code).toBe(0);
    expect(await tcState(o)).toEqual({
      qdiscs: [expect.objectContaining({ kind: 'noqueue' })],
      filters: [],
      ifb: undefined,
    });
    const leftR = await tcState(r, true);
    expect(leftR['ifb']).toBeUndefined();
    expect(leftR['filters']).not.toEqual([]); // a redirect to a device that no longer exists
    await detach(o);
    await detach(r);
  });

  it("a prevResult naming another container's veth does not make DEL touch that veth", async () => {
    const [a, b] = [await attach(), await attach()];
    for (const x of [a, b]) expect((await bw(OURS, 'ADD', x, conf(x))).code).toBe(0);
    const before = await tcState(b);
    const hostile = { ...conf(a), prevResult: { ...a.prev, interfaces: [{ name: b.hostVeth }] } };
    expect((await bw(OURS, 'DEL', a, hostile, '')).code).toBe(0);
    expect(await tcState(b)).toEqual(before);
    expect(await tcState(a)).toEqual(BARE);
    for (const x of [a, b]) {
      expect((await bw(OURS, 'DEL', x, conf(x))).code).toBe(0);
      await detach(x);
    }
  });

  it("GC removes this network's ifbs of attachments that are not valid, and nothing else", async () => {
    const [keep, stale, other] = [await attach(), await attach(), await attach()];
    for (const a of [keep, stale]) expect((await bw(OURS, 'ADD', a, conf(a))).code).toBe(0);
    const otherConf = { ...conf(other), name: 'bwother' };
    expect((await bw(OURS, 'ADD', other, otherConf)).code).toBe(0);
    const gc = {
      cniVersion: '1.1.0',
      name: NET,
      type: 'bandwidth',
      'cni.dev/valid-attachments': [{ containerID: keep.id, ifname: 'eth0' }],
    };
    expect((await sb.runPlugin(OURS, { command: 'GC' }, gc)).code).toBe(0);
    expect((await tcState(stale))['ifb']).toBeUndefined();
    expect((await tcState(stale))['filters']).toEqual([]);
    expect((await tcState(keep))['ifb']).toBeDefined();
    const otherIfb = await sb.exec('host', ['ip', 'link', 'show', ifbName('bwother', other.id)]);
    expect(otherIfb.code).toBe(0);
    expect((await bw(OURS, 'DEL', keep, conf(keep))).code).toBe(0);
    expect((await bw(OURS, 'DEL', other, otherConf)).code).toBe(0);
    for (const a of [keep, stale, other]) await detach(a);
  });
});

describe('unshapedSubnets and shapedSubnets (upstream v1.5; the reference v1.1.1 ignores them)', () => {
  it('unshaped: an HTB root with a shaped default class, peers passed before the redirect; CHECK; DEL', async () => {
    const a = await attach();
    const c = conf(a, { ...LIMITS, unshapedSubnets: ['10.78.0.0/24', 'fd00:78::/64'] });
    const add = await bw(OURS, 'ADD', a, c);
    expect(add.code).toBe(0);
    const q = await sb.exec('host', ['tc', '-j', 'qdisc', 'show', 'dev', a.hostVeth]);
    expect(q.json).toEqual([
      expect.objectContaining({
        kind: 'htb',
        handle: '1:',
        root: true,
        options: expect.objectContaining({ default: '0x30' }),
      }),
      expect.objectContaining({ kind: 'bfifo', handle: '30:', parent: '1:30', options: { limit: 35000 } }),
      expect.objectContaining({ kind: 'ingress', handle: 'ffff:' }),
    ]);
    // tc prints htb classes as text only, even with -j.
    const cls = await sb.exec('host', ['tc', 'class', 'show', 'dev', a.hostVeth]);
    expect(cls.stdout).toMatch(/class htb 1:1 root prio 0 rate 800Gbit ceil 800Gbit/);
    expect(cls.stdout).toMatch(/class htb 1:30 root leaf 30: prio 0 rate 8Mbit ceil 8Mbit burst 10000b cburst 10000b/);
    const towards = await sb.exec('host', ['tc', 'filter', 'show', 'dev', a.hostVeth, 'parent', '1:']);
    expect(towards.stdout).toMatch(/protocol ip pref 1 u32 .*flowid 1:1[\s\S]*match 0a4e0000\/ffffff00 at 12/);
    expect(towards.stdout).toMatch(/protocol ipv6 pref 2 u32 .*flowid 1:1[\s\S]*match fd000078\/ffffffff at 8/);
    const from = await sb.exec('host', ['tc', 'filter', 'show', 'dev', a.hostVeth, 'ingress']);
    expect(from.stdout).toMatch(/protocol ip pref 1 u32 .*flowid 1:1[\s\S]*match 0a4e0000\/ffffff00 at 16/);
    expect(from.stdout).toMatch(/protocol all pref 3 u32[\s\S]*Egress Redirect to device/);
    expect((await bw(OURS, 'CHECK', a, { ...c, prevResult: add.json })).code).toBe(0);
    await sb.exec('host', ['tc', 'filter', 'del', 'dev', a.hostVeth, 'parent', '1:', 'pref', '2']);
    expect(await bw(OURS, 'CHECK', a, { ...c, prevResult: add.json })).toMatchObject({
      json: { msg: 'Failed to find filter' },
    });
    expect((await bw(OURS, 'DEL', a, c)).code).toBe(0);
    expect(await tcState(a)).toEqual({
      qdiscs: [expect.objectContaining({ kind: 'noqueue' })],
      filters: [],
      ifb: undefined,
    });
    await detach(a);
  });

  it('shaped: only the listed peers go to the shaped class and to the ifb', async () => {
    const a = await attach();
    const c = conf(a, { ...LIMITS, shapedSubnets: ['10.78.0.0/24'] });
    const add = await bw(OURS, 'ADD', a, c);
    expect(add.code).toBe(0);
    const q = await sb.exec('host', ['tc', '-j', 'qdisc', 'show', 'dev', a.hostVeth]);
    expect((q.json as Json[])[0]).toMatchObject({ kind: 'htb', options: expect.objectContaining({ default: '0x1' }) });
    const towards = await sb.exec('host', ['tc', 'filter', 'show', 'dev', a.hostVeth, 'parent', '1:']);
    expect(towards.stdout).toMatch(/flowid 1:30[\s\S]*match 0a4e0000\/ffffff00 at 12/);
    const from = await sb.exec('host', ['tc', 'filter', 'show', 'dev', a.hostVeth, 'ingress']);
    expect(from.stdout).toMatch(/protocol ip pref 1 u32[\s\S]*match 0a4e0000\/ffffff00 at 16[\s\S]*Egress Redirect/);
    expect(from.stdout).not.toMatch(/protocol all/);
    expect((await bw(OURS, 'CHECK', a, { ...c, prevResult: add.json })).code).toBe(0);
    expect((await bw(OURS, 'DEL', a, c)).code).toBe(0);
    await detach(a);
  });
});

describe('hostile input: names that reach tc and the ifb', () => {
  const ifbs = async (): Promise<string[]> =>
    ((await sb.exec('host', ['ip', '-j', 'link', 'show', 'type', 'ifb'])).json as Json[]).map((l) =>
      String(l['ifname']),
    );

  it('a network name of shell and tc syntax is refused (code 7) before anything is made; a 250-character one is hashed into the same 15-character ifb name as the reference', async () => {
    const [o, r] = [await attach(), await attach()];
    for (const name of ['net $(reboot)', 'net\nroot', "net' dev lo", 'x'.repeat(16) + ' handle ffff:']) {
      const res = await bw(OURS, 'ADD', o, { ...conf(o), name });
      expect({ name, code: (res.json as Json | undefined)?.['code'] }).toEqual({ name, code: 7 });
    }
    expect(await tcState(o)).toEqual(BARE);
    expect(await ifbs()).toEqual([]);
    const long = 'n.'.repeat(125);
    expect((await bw(OURS, 'ADD', o, { ...conf(o), name: long })).code).toBe(0);
    expect((await bw(REF, 'ADD', r, { ...conf(r), name: long })).code).toBe(0);
    expect((await ifbs()).sort()).toEqual([ifbName(long, o.id), ifbName(long, r.id)].sort());
    expect(ifbName(long, o.id)).toMatch(/^bwp[0-9a-f]{12}$/);
    for (const a of [o, r]) expect((await bw(OURS, 'DEL', a, { ...conf(a), name: long })).code).toBe(0);
    expect(await ifbs()).toEqual([]);
    for (const a of [o, r]) await detach(a);
  });

  it('hostile interface names in CNI_IFNAME or prevResult: an error, nothing made', async () => {
    const a = await attach();
    for (const ifName of ['eth0 x', '../eth0', 'x'.repeat(16)]) {
      const res = await sb.runPlugin(OURS, { command: 'ADD', containerId: a.id, netns: a.netns, ifName }, conf(a));
      expect({ ifName, code: (res.json as Json | undefined)?.['code'] }).toEqual({ ifName, code: 4 });
    }
    const names = ['veth\n$(reboot)', 'eth0; tc qdisc del dev lo root', 'v'.repeat(300)];
    const prev = { ...a.prev, interfaces: [...names.map((name) => ({ name })), { name: 'eth0', sandbox: a.netns }] };
    const res = await bw(OURS, 'ADD', a, { ...conf(a), prevResult: prev });
    expect(res.code).not.toBe(0);
    expect((res.json as Json)['msg']).toBe('no veth peer of container interface found in host ns');
    expect(await tcState(a)).toEqual(BARE);
    expect(await ifbs()).toEqual([]);
    await detach(a);
  });

  it('hostile subnets and limits: code 7, nothing made', async () => {
    const a = await attach();
    const bad: Json[] = [
      { ...LIMITS, unshapedSubnets: ['10.0.0.0/33'] },
      { ...LIMITS, unshapedSubnets: ['10.0.0.0/8 dev lo'] },
      { ...LIMITS, shapedSubnets: [7] },
      { ...LIMITS, unshapedSubnets: ['10.0.0.0/8'], shapedSubnets: ['10.1.0.0/16'] },
      { ...LIMITS, ingressRate: -1 },
      { ...LIMITS, ingressRate: '8000000; reboot' },
      { ...LIMITS, egressBurst: 1e30 },
    ];
    for (const limits of bad) {
      const res = await bw(OURS, 'ADD', a, conf(a, limits));
      expect({ limits, code: (res.json as Json | undefined)?.['code'] }).toEqual({ limits, code: 7 });
    }
    expect(await tcState(a)).toEqual(BARE);
    expect(await ifbs()).toEqual([]);
    await detach(a);
  });

  it("a planted ifb whose alias names another container's shaped veth: DEL without the namespace and GC remove the plant, never the victim's qdiscs", async () => {
    const [victim, a] = [await attach(), await attach()];
    expect((await bw(OURS, 'ADD', victim, conf(victim))).code).toBe(0);
    const before = await tcState(victim);
    const plant = async (name: string): Promise<void> => {
      expect((await sb.exec('host', ['ip', 'link', 'add', name, 'type', 'ifb'])).code).toBe(0);
      const alias = `tscni bandwidth: network ${networkTag(NET)}, shapes ${victim.hostVeth}`;
      expect((await sb.exec('host', ['ip', 'link', 'set', name, 'alias', alias])).code).toBe(0);
    };
    await plant(a.ifb);
    expect((await bw(OURS, 'DEL', a, conf(a, LIMITS, false), '')).code).toBe(0);
    expect(await ifbs()).toEqual([victim.ifb]);
    expect(await tcState(victim)).toEqual(before);
    const stale = ifbName(NET, 'stale-container');
    await plant(stale);
    const gc = {
      cniVersion: '1.1.0',
      name: NET,
      type: 'bandwidth',
      'cni.dev/valid-attachments': [{ containerID: victim.id, ifname: 'eth0' }],
    };
    expect((await sb.runPlugin(OURS, { command: 'GC' }, gc)).code).toBe(0);
    expect(await ifbs()).toEqual([victim.ifb]);
    expect(await tcState(victim)).toEqual(before);
    expect((await bw(OURS, 'DEL', victim, conf(victim))).code).toBe(0);
    for (const x of [victim, a]) await detach(x);
  });
});
