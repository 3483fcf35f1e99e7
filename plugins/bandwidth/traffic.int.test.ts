/**
 * bandwidth with real traffic: a container behind our bridge (and one behind ptp), shaped to
 * 8 Mbit/s each way, moves a few MB over TCP in each direction through the qdiscs ADD made; a
 * peer in `unshapedSubnets` bypasses them while another peer does not; after DEL nothing shapes
 * the veth any more and no ifb is left.
 *
 * The proof is the kernel's own counters, never how long a transfer took (the machine is shared):
 * the shaper's byte counter grew by at least the bytes moved (the traffic went through it), its
 * overlimits grew (it held packets back for want of tokens, so it set the pace), and the bytes it
 * let through are no more than the rate allows over the time between the two counter reads, with
 * 10% to spare (a token bucket cannot pass more than burst + rate × time; a slow machine only
 * lengthens that time, so load can loosen this bound but never break it). An unshaped peer's
 * bytes are counted by the unlimited class, or by nothing on the ifb. Last, k3s's shape
 * (examples/k3s-bandwidth.conflist: bridge + host-local, portmap, bandwidth) through bin/tscni
 * with the limits as containerd sends a pod's annotations, the `bandwidth` capability.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BIN_DIR, REPO_ROOT, Sandbox, runOk, type RunResult } from '../../lib/testutil/sandbox';
import { transfer } from '../../lib/testutil/traffic';
import { requireProgram } from '../../lib/testutil/programs';

const OURS = join(BIN_DIR, 'bandwidth');
const NET = 'bwtraffic';
const RATE = 8_000_000; // bit/s
const BURST = 80_000; // bits: 10 kB, negligible against the transfers
const LIMITS = { ingressRate: RATE, ingressBurst: BURST, egressRate: RATE, egressBurst: BURST };
const MB = 1_000_000;
/** The host's address towards the containers, and a second one standing for a peer elsewhere. */
const GATEWAY = '10.79.0.1';
const FAR_PEER = '10.78.0.1';
/** What a shaper may pass beyond burst + rate × time: one 64 KiB GSO packet already dequeued. */
const SLACK_BITS = 8 * 65536;

let sb: Sandbox;
let port = 20000;
/** Every measurement, printed at the end (what the machine did, for the reader of the log). */
const measured: string[] = [];

beforeAll(async () => {
  requireProgram('tc');
  sb = await Sandbox.create('bwtraffic');
  mkdirSync(join(sb.dir, 'ipam'));
  await runOk(['ip', '-n', sb.hostNs, 'addr', 'add', `${FAR_PEER}/32`, 'dev', 'lo']);
});
afterAll(async () => {
  if (measured.length)
    process.stdout.write(`bandwidth traffic (shaped to ${RATE / 1e6} Mbit/s):\n${measured.join('\n')}\n`);
  await sb?.destroy();
});

type Json = Record<string, unknown>;
interface Ctr {
  readonly id: string;
  readonly netns: string;
  readonly ip: string;
  readonly prev: Json;
  /** The host end of its veth. */
  readonly veth: string;
}

const mainConf = (main: 'bridge' | 'ptp'): Json => ({
  cniVersion: '1.0.0',
  name: NET,
  type: main,
  ...(main === 'bridge' ? { bridge: 'bwtr0', isGateway: true } : {}),
  ipam: {
    type: 'host-local',
    ranges: [[{ subnet: main === 'bridge' ? '10.79.0.0/24' : '10.79.1.0/24' }]],
    routes: [{ dst: '0.0.0.0/0' }],
    dataDir: join(sb.dir, 'ipam'),
  },
});

async function container(id: string, main: 'bridge' | 'ptp' = 'bridge'): Promise<Ctr> {
  const netns = await sb.addContainer(id);
  const r = await sb.runPlugin(
    join(BIN_DIR, main),
    { command: 'ADD', containerId: id, netns, ifName: 'eth0' },
    mainConf(main),
  );
  if (r.code !== 0) throw new Error(`${main} ADD: ${r.stdout}`);
  const prev = r.json as Json;
  const ip = String((prev['ips'] as Json[])[0]?.['address']).split('/')[0] ?? '';
  const veth = (prev['interfaces'] as Json[]).find((i) => !i['sandbox'] && String(i['name']).startsWith('veth'));
  if (!veth) throw new Error(`no host veth in ${r.stdout}`);
  return { id, netns, ip, prev, veth: String(veth['name']) };
}

const bw = (c: Ctr, command: string, limits: Json): ReturnType<Sandbox['runPlugin']> =>
  sb.runPlugin(
    OURS,
    { command, containerId: c.id, netns: c.netns, ifName: 'eth0' },
    { cniVersion: '1.0.0', name: NET, type: 'bandwidth', ...limits, prevResult: c.prev },
  );

/** `bytes` into the container (from `peer`) or out of it (to `peer`); resolves with the bytes received. */
const into = (c: Ctr, peer: string, bytes: number): Promise<number> =>
  transfer(sb, { sink: c.id, sinkAddress: c.ip, source: 'host', sourceAddress: peer, bytes, port: ++port });
const outOf = (c: Ctr, peer: string, bytes: number): Promise<number> =>
  transfer(sb, { sink: 'host', sinkAddress: peer, source: c.id, bytes, port: ++port });

// ---------------------------------------------------------------------------------------------
// The kernel's counters

interface Counters {
  readonly bytes: number;
  readonly overlimits: number;
}

async function qdiscs(dev: string): Promise<Json[]> {
  const r = await sb.exec('host', ['tc', '-s', '-j', 'qdisc', 'show', 'dev', dev]);
  if (r.code !== 0) throw new Error(`tc qdisc show dev ${dev}: ${r.stderr}`);
  return (r.json as Json[] | undefined) ?? [];
}

/** The root qdisc of `dev`, which must be a tbf. */
async function rootTbf(dev: string): Promise<Counters> {
  const root = (await qdiscs(dev)).find((q) => q['root'] === true);
  if (root?.['kind'] !== 'tbf') throw new Error(`root qdisc of ${dev}: ${JSON.stringify(root)}`);
  return { bytes: Number(root['bytes']), overlimits: Number(root['overlimits']) };
}

/** An HTB class of `dev` (iproute2 prints classes as text even with -j). */
async function htbClass(dev: string, classid: string): Promise<Counters> {
  const r = await sb.exec('host', ['tc', '-s', 'class', 'show', 'dev', dev]);
  const block = r.stdout.split(/^(?=class )/m).find((b) => b.startsWith(`class htb ${classid} `));
  const m = block && /Sent (\d+) bytes \d+ pkts? \(dropped \d+, overlimits (\d+)/.exec(block);
  if (!m) throw new Error(`no htb class ${classid} on ${dev}:\n${r.stdout}`);
  return { bytes: Number(m[1]), overlimits: Number(m[2]) };
}

const onlyIfb = async (): Promise<string> => {
  const links = (await sb.exec('host', ['ip', '-j', 'link', 'show', 'type', 'ifb'])).json as Json[];
  expect(links).toHaveLength(1);
  return String(links[0]?.['ifname']);
};

interface Through {
  /** Bytes and overlimits the counter gained while `bytes` moved. */
  readonly bytes: number;
  readonly overlimits: number;
  /** Seconds between the two counter reads, at least (the clock is read outside them). */
  readonly seconds: number;
}

/** Reads a counter before and after moving `bytes`; the clock brackets the two reads. */
async function through(what: string, counter: () => Promise<Counters>, move: () => Promise<number>): Promise<Through> {
  const t0 = performance.now();
  const c0 = await counter();
  const received = await move();
  const c1 = await counter();
  const seconds = (performance.now() - t0) / 1000;
  const t = { bytes: c1.bytes - c0.bytes, overlimits: c1.overlimits - c0.overlimits, seconds };
  measured.push(
    `  ${what}: ${received} B received; the counter +${t.bytes} B, +${t.overlimits} overlimits in ${seconds.toFixed(2)} s` +
      ` (${((t.bytes * 8) / seconds / 1e6).toFixed(2)} Mbit/s at most)`,
  );
  return t;
}

/** Traffic the shaper paced: all of it counted, held back, and never above the rate (+10%). */
async function expectShaped(
  what: string,
  counter: () => Promise<Counters>,
  move: () => Promise<number>,
  bytes: number,
): Promise<void> {
  const t = await through(what, counter, move);
  const allowedBits = 1.1 * RATE * t.seconds + BURST + SLACK_BITS;
  expect({
    what,
    counted: t.bytes >= bytes,
    heldBack: t.overlimits > 0,
    withinRate: t.bytes * 8 <= allowedBits,
  }).toEqual({
    what,
    counted: true,
    heldBack: true,
    withinRate: true,
  });
}

/** Traffic the shaper did not see (a few stray packets at most). */
async function expectBypassed(
  what: string,
  counter: () => Promise<Counters>,
  move: () => Promise<number>,
  bytes: number,
): Promise<void> {
  const t = await through(what, counter, move);
  expect({ what, bytes: t.bytes, bypassed: t.bytes < bytes / 100 }).toMatchObject({ bypassed: true });
}

/** After DEL: the veth has no qdisc of ours (a veth's default root is noqueue), the ifb is gone, bytes flow both ways. */
async function expectUnshapedAfterDel(c: Ctr, peer: string, bytes: number): Promise<void> {
  const kinds = (await qdiscs(c.veth)).map((q) => q['kind']);
  expect(kinds.filter((k) => k !== 'noqueue')).toEqual([]);
  expect((await sb.exec('host', ['ip', '-j', 'link', 'show', 'type', 'ifb'])).json).toEqual([]);
  expect(await into(c, peer, bytes)).toBeGreaterThanOrEqual(bytes);
  expect(await outOf(c, peer, bytes)).toBeGreaterThanOrEqual(bytes);
}

describe('bandwidth shapes real traffic', () => {
  it('8 Mbit/s each way after bridge: 3 MB paced by the veth tbf in, by the ifb tbf out; after DEL neither is left', async () => {
    const c = await container('plain');
    const bytes = 3 * MB;
    expect((await bw(c, 'ADD', LIMITS)).code).toBe(0);
    const ifb = await onlyIfb();
    await expectShaped(
      'into the container',
      () => rootTbf(c.veth),
      () => into(c, GATEWAY, bytes),
      bytes,
    );
    await expectShaped(
      'out of the container',
      () => rootTbf(ifb),
      () => outOf(c, GATEWAY, bytes),
      bytes,
    );
    expect((await bw(c, 'DEL', LIMITS)).code).toBe(0);
    await expectUnshapedAfterDel(c, GATEWAY, bytes);
  });

  it('unshapedSubnets: the far peer bypasses the shapers either way, the gateway is still paced', async () => {
    const c = await container('subnets');
    const bytes = 2 * MB;
    const limits = { ...LIMITS, unshapedSubnets: ['10.78.0.0/24'] };
    expect((await bw(c, 'ADD', limits)).code).toBe(0);
    const ifb = await onlyIfb();
    await expectBypassed(
      'into, from the unshaped peer: shaped class',
      () => htbClass(c.veth, '1:30'),
      () => into(c, FAR_PEER, bytes),
      bytes,
    );
    const free = await through(
      'into, from the unshaped peer: unlimited class',
      () => htbClass(c.veth, '1:1'),
      () => into(c, FAR_PEER, bytes),
    );
    expect(free.bytes).toBeGreaterThanOrEqual(bytes);
    await expectBypassed(
      'out of, to the unshaped peer: ifb',
      () => rootTbf(ifb),
      () => outOf(c, FAR_PEER, bytes),
      bytes,
    );
    await expectShaped(
      'into, from the gateway',
      () => htbClass(c.veth, '1:30'),
      () => into(c, GATEWAY, bytes),
      bytes,
    );
    await expectShaped(
      'out of, to the gateway',
      () => rootTbf(ifb),
      () => outOf(c, GATEWAY, bytes),
      bytes,
    );
    expect((await bw(c, 'DEL', limits)).code).toBe(0);
    await expectUnshapedAfterDel(c, GATEWAY, bytes);
  });

  it('shapedSubnets: only the listed peer is paced', async () => {
    const c = await container('shaped');
    const bytes = 2 * MB;
    const limits = { egressRate: RATE, egressBurst: BURST, shapedSubnets: ['10.78.0.0/24'] };
    expect((await bw(c, 'ADD', limits)).code).toBe(0);
    const ifb = await onlyIfb();
    await expectBypassed(
      'out of, to the gateway',
      () => rootTbf(ifb),
      () => outOf(c, GATEWAY, bytes),
      bytes,
    );
    await expectShaped(
      'out of, to the listed peer',
      () => rootTbf(ifb),
      () => outOf(c, FAR_PEER, bytes),
      bytes,
    );
    expect((await bw(c, 'DEL', limits)).code).toBe(0);
    await expectUnshapedAfterDel(c, FAR_PEER, bytes);
  });

  it('after ptp: paced both ways too', async () => {
    const c = await container('ptp', 'ptp');
    const gw = '10.79.1.1';
    const bytes = 2 * MB;
    expect((await bw(c, 'ADD', LIMITS)).code).toBe(0);
    const ifb = await onlyIfb();
    await expectShaped(
      'into the container',
      () => rootTbf(c.veth),
      () => into(c, gw, bytes),
      bytes,
    );
    await expectShaped(
      'out of the container',
      () => rootTbf(ifb),
      () => outOf(c, gw, bytes),
      bytes,
    );
    expect((await bw(c, 'DEL', LIMITS)).code).toBe(0);
    await expectUnshapedAfterDel(c, gw, bytes);
  });
});

describe("k3s's shape: examples/k3s-bandwidth.conflist through bin/tscni", () => {
  it("the bandwidth capability (a pod's annotations, as containerd sends them) paces the pod both ways; CHECK; DEL leaves nothing", async () => {
    const netd = join(sb.dir, 'net.d');
    mkdirSync(netd);
    // Only the lease directory moves into the sandbox; the rest is the example as it stands.
    const list = JSON.parse(readFileSync(join(REPO_ROOT, 'examples', 'k3s-bandwidth.conflist'), 'utf8')) as {
      name: string;
      plugins: Array<{ ipam?: { dataDir?: string } }>;
    };
    const ipam = list.plugins[0]?.ipam;
    if (ipam) ipam.dataDir = join(sb.dir, 'k3s-ipam');
    writeFileSync(join(netd, '10-k3s.conflist'), JSON.stringify(list));
    // containerd's keys are capitalised (Go decodes them case-insensitively); a sane burst, not its 2^32-1 bits.
    const cap = JSON.stringify({
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
      bandwidth: { IngressRate: RATE, IngressBurst: BURST, EgressRate: RATE, EgressBurst: BURST },
    });
    const id = 'k3spod';
    const netns = await sb.addContainer(id);
    const tscni = (cmd: string): Promise<RunResult> =>
      sb.exec('host', [
        'env',
        `NETCONFPATH=${netd}`,
        `CNI_PATH=${BIN_DIR}`,
        `CNI_CACHE_DIR=${join(sb.dir, 'cache')}`,
        `CAP_ARGS=${cap}`,
        join(BIN_DIR, 'tscni'),
        cmd,
        list.name,
        netns,
      ]);
    const add = await tscni('add');
    expect({ code: add.code, stderr: add.stderr }).toEqual({ code: 0, stderr: '' });
    const res = add.json as Json;
    const ip = String((res['ips'] as Json[])[0]?.['address']).split('/')[0] ?? '';
    const hostVeth = (res['interfaces'] as Json[]).find((i) => !i['sandbox'] && String(i['name']).startsWith('veth'));
    const ifb = await onlyIfb();
    expect((res['interfaces'] as Json[]).map((i) => i['name'])).toContain(ifb);
    const pod: Ctr = { id, netns, ip, prev: res, veth: String(hostVeth?.['name']) };
    const bytes = 2 * MB;
    await expectShaped(
      'k3s pod, in',
      () => rootTbf(pod.veth),
      () => into(pod, '10.42.0.1', bytes),
      bytes,
    );
    await expectShaped(
      'k3s pod, out',
      () => rootTbf(ifb),
      () => outOf(pod, '10.42.0.1', bytes),
      bytes,
    );
    expect((await tscni('check')).code).toBe(0);
    expect((await tscni('del')).code).toBe(0);
    expect((await qdiscs(pod.veth).catch(() => [])).filter((q) => q['kind'] !== 'noqueue')).toEqual([]);
    expect((await sb.exec('host', ['ip', '-j', 'link', 'show', 'type', 'ifb'])).json).toEqual([]);
  });
});
