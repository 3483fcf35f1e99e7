/**
 * bandwidth with real traffic: a container behind our bridge (and one behind ptp), shaped to
 * 8 Mbit/s each way, moves a few MB over TCP in about the time 8 Mbit/s allows, both ways; a peer
 * in `unshapedSubnets` is not shaped while another peer is; after DEL the rate is back and no
 * ifb is left.
 *
 * The machine is shared, so every shaped measurement is judged against an unshaped one taken in
 * the same test: a token bucket cannot pass more than its rate, so the time can never fall below
 * the expected one by much (that bound is strict); it may rise above it only when the machine
 * cannot even move the bytes unshaped that fast, which the baseline shows. A measurement
 * outside ±20% is taken once more before the test fails.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, Sandbox, runOk } from '../../lib/testutil/sandbox';
import { timedTransfer } from '../../lib/testutil/traffic';
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
    process.stdout.write(
      `bandwidth traffic (expected at 8 Mbit/s: 1 MB per ${expectedMs(1_000_000)} ms):\n${measured.join('\n')}\n`,
    );
  await sb?.destroy();
});

type Json = Record<string, unknown>;
interface Ctr {
  readonly id: string;
  readonly netns: string;
  readonly ip: string;
  readonly prev: Json;
  readonly main: 'bridge' | 'ptp';
}

const mainConf = (main: Ctr['main']): Json => ({
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

async function container(id: string, main: Ctr['main'] = 'bridge'): Promise<Ctr> {
  const netns = await sb.addContainer(id);
  const r = await sb.runPlugin(
    join(BIN_DIR, main),
    { command: 'ADD', containerId: id, netns, ifName: 'eth0' },
    mainConf(main),
  );
  if (r.code !== 0) throw new Error(`${main} ADD: ${r.stdout}`);
  const prev = r.json as Json;
  const ip = String((prev['ips'] as Json[])[0]?.['address']).split('/')[0] ?? '';
  return { id, netns, ip, prev, main };
}

const bw = (c: Ctr, command: string, limits: Json): ReturnType<Sandbox['runPlugin']> =>
  sb.runPlugin(
    OURS,
    { command, containerId: c.id, netns: c.netns, ifName: 'eth0' },
    { cniVersion: '1.0.0', name: NET, type: 'bandwidth', ...limits, prevResult: c.prev },
  );

/** Milliseconds for `bytes` into the container (from `peer`) or out of it (to `peer`). */
async function into(c: Ctr, peer: string, bytes: number): Promise<number> {
  return timedTransfer(sb, { sink: c.id, sinkAddress: c.ip, source: 'host', sourceAddress: peer, bytes, port: ++port });
}
async function outOf(c: Ctr, peer: string, bytes: number): Promise<number> {
  return timedTransfer(sb, { sink: 'host', sinkAddress: peer, source: c.id, bytes, port: ++port });
}

/** How long `bytes` take at RATE. */
const expectedMs = (bytes: number): number => ((bytes * 8) / RATE) * 1000;

/**
 * A shaped transfer: within ±20% of the expected time, measured twice at most. The lower bound
 * always holds for a working shaper; the upper one is only meaningful when the unshaped
 * baseline shows the machine could have been much faster, which is asserted too.
 */
async function expectShaped(
  what: string,
  measure: () => Promise<number>,
  bytes: number,
  baselineMs: number,
): Promise<void> {
  const want = expectedMs(bytes);
  expect({ what, baselineMs: Math.round(baselineMs), fastEnoughToTell: baselineMs < want / 3 }).toEqual({
    what,
    baselineMs: Math.round(baselineMs),
    fastEnoughToTell: true,
  });
  let ms = await measure();
  if (ms < 0.8 * want || ms > 1.2 * want) {
    measured.push(`  ${what}: ${Math.round(ms)} ms, outside ±20% of ${want} ms: measured again`);
    ms = await measure();
  }
  measured.push(
    `  ${what}: ${bytes / 1_000_000} MB shaped in ${Math.round(ms)} ms (expected ${want}, unshaped ${Math.round(baselineMs)})`,
  );
  expect({
    what,
    ms: Math.round(ms),
    low: Math.round(0.8 * want),
    high: Math.round(1.2 * want),
    within: ms >= 0.8 * want && ms <= 1.2 * want,
  }).toMatchObject({ within: true });
}

/** An unshaped transfer: far below what RATE would take (a third of it at most). */
async function expectUnshaped(what: string, measure: () => Promise<number>, bytes: number): Promise<number> {
  let ms = await measure();
  if (ms >= expectedMs(bytes) / 3) ms = await measure();
  measured.push(`  ${what}: ${bytes / 1_000_000} MB unshaped in ${Math.round(ms)} ms`);
  expect({
    what,
    ms: Math.round(ms),
    limit: Math.round(expectedMs(bytes) / 3),
    unshaped: ms < expectedMs(bytes) / 3,
  }).toMatchObject({ unshaped: true });
  return ms;
}

const ifbs = async (): Promise<unknown[]> =>
  (await sb.exec('host', ['ip', '-j', 'link', 'show', 'type', 'ifb'])).json as unknown[];

describe('bandwidth shapes real traffic', () => {
  it('8 Mbit/s each way after bridge: 3 MB in ~3 s in and out; after DEL the rate is back and no ifb is left', async () => {
    const c = await container('plain');
    const bytes = 3 * MB;
    const baseIn = await expectUnshaped('into, before ADD', () => into(c, GATEWAY, bytes), bytes);
    const baseOut = await expectUnshaped('out of, before ADD', () => outOf(c, GATEWAY, bytes), bytes);
    expect((await bw(c, 'ADD', LIMITS)).code).toBe(0);
    await expectShaped('into the container', () => into(c, GATEWAY, bytes), bytes, baseIn);
    await expectShaped('out of the container', () => outOf(c, GATEWAY, bytes), bytes, baseOut);
    expect((await bw(c, 'DEL', LIMITS)).code).toBe(0);
    expect(await ifbs()).toEqual([]);
    await expectUnshaped('into, after DEL', () => into(c, GATEWAY, bytes), bytes);
    await expectUnshaped('out of, after DEL', () => outOf(c, GATEWAY, bytes), bytes);
  });

  it('unshapedSubnets: the far peer is not shaped either way, the gateway still is', async () => {
    const c = await container('subnets');
    const bytes = 2 * MB;
    const limits = { ...LIMITS, unshapedSubnets: ['10.78.0.0/24'] };
    const baseIn = await expectUnshaped('into, before ADD', () => into(c, GATEWAY, bytes), bytes);
    const baseOut = await expectUnshaped('out of, before ADD', () => outOf(c, GATEWAY, bytes), bytes);
    expect((await bw(c, 'ADD', limits)).code).toBe(0);
    await expectUnshaped('into, from the unshaped peer', () => into(c, FAR_PEER, bytes), bytes);
    await expectUnshaped('out of, to the unshaped peer', () => outOf(c, FAR_PEER, bytes), bytes);
    await expectShaped('into, from the gateway', () => into(c, GATEWAY, bytes), bytes, baseIn);
    await expectShaped('out of, to the gateway', () => outOf(c, GATEWAY, bytes), bytes, baseOut);
    expect((await bw(c, 'DEL', limits)).code).toBe(0);
    expect(await ifbs()).toEqual([]);
  });

  it('shapedSubnets: only the listed peer is shaped', async () => {
    const c = await container('shaped');
    const bytes = 2 * MB;
    const limits = { egressRate: RATE, egressBurst: BURST, shapedSubnets: ['10.78.0.0/24'] };
    const baseOut = await expectUnshaped('out of, before ADD', () => outOf(c, FAR_PEER, bytes), bytes);
    expect((await bw(c, 'ADD', limits)).code).toBe(0);
    await expectUnshaped('out of, to the gateway', () => outOf(c, GATEWAY, bytes), bytes);
    await expectShaped('out of, to the listed peer', () => outOf(c, FAR_PEER, bytes), bytes, baseOut);
    expect((await bw(c, 'DEL', limits)).code).toBe(0);
  });

  it('after ptp: shaped both ways too', async () => {
    const c = await container('ptp', 'ptp');
    const gw = '10.79.1.1';
    const bytes = 2 * MB;
    const baseIn = await expectUnshaped('into, before ADD', () => into(c, gw, bytes), bytes);
    const baseOut = await expectUnshaped('out of, before ADD', () => outOf(c, gw, bytes), bytes);
    expect((await bw(c, 'ADD', LIMITS)).code).toBe(0);
    await expectShaped('into the container', () => into(c, gw, bytes), bytes, baseIn);
    await expectShaped('out of the container', () => outOf(c, gw, bytes), bytes, baseOut);
    expect((await bw(c, 'DEL', LIMITS)).code).toBe(0);
    expect(await ifbs()).toEqual([]);
  });
});
