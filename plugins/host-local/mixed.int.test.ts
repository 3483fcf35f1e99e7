/**
 * Ours and the reference host-local (/usr/lib/cni/host-local, v1.1.1) on ONE store at the same
 * time: they take the same flock on `<dataDir>/<net>/lock`, share the lease files and the
 * round-robin cursor; only our index (.tscni/) is ours, and it must follow whatever the
 * reference does. Bursts are released at once by a barrier: the test holds the store's lock
 * while it starts every call, waits until the kernel lists them all as waiting for it, then
 * lets go. TSCNI_MIXED_N sets the calls per binary (default 50).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isLeaseName } from '../../lib/ipam/disk-store';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../../lib/testutil/sandbox';
import { flockWaiters } from '../../lib/testutil/locks';
import { waitFor } from '../../lib/testutil/wait';

const OURS = join(BIN_DIR, 'host-local');
const REF = join(REFERENCE_DIR, 'host-local');
const N = Number(process.env['TSCNI_MIXED_N'] ?? 50);
const NET = 'mixnet';

let sb: Sandbox;
let netns: string;
let seq = 0;

beforeAll(async () => {
  if (!existsSync(REF)) throw new Error(`${REF} missing: apt-get install containernetworking-plugins`);
  sb = await Sandbox.create('hlmix');
  netns = await sb.addContainer('c');
});
afterAll(async () => sb?.destroy());

const newStore = (): string => {
  const d = join(sb.dir, `store${++seq}`);
  mkdirSync(d);
  return d;
};
// Dual-stack, room for 2N containers: one lock per range set in the reference, one per ADD in ours.
const conf = (dataDir: string): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: NET,
  ipam: {
    type: 'host-local',
    dataDir,
    ranges: [[{ subnet: '10.40.0.0/22' }], [{ subnet: 'fd00:40::/118' }]],
  },
});
const call = (bin: string, command: string, id: string, dataDir: string): Promise<RunResult> =>
  sb.runPlugin(bin, { command, containerId: id, netns, ifName: 'eth0' }, conf(dataDir));

/** Lease files (name → content) of the store. */
function leases(dataDir: string): Map<string, string> {
  const dir = join(dataDir, NET);
  const out = new Map<string, string>();
  for (const n of readdirSync(dir).filter(isLeaseName)) out.set(n, readFileSync(join(dir, n), 'utf8'));
  return out;
}
const indexEntries = (dataDir: string): string[] => readdirSync(join(dataDir, NET, '.tscni', 'by-id'));

/**
 * Starts every call while holding the store's lock, waits until all of them wait for it, then
 * releases it: the calls then contend for the store at the same moment.
 */
async function burst(dataDir: string, calls: Array<() => Promise<RunResult>>): Promise<RunResult[]> {
  const lock = join(dataDir, NET, 'lock');
  const holder = spawn('flock', ['-x', lock, '-c', 'echo held; exec cat'], { stdio: ['pipe', 'pipe', 'ignore'] });
  try {
    await new Promise<void>((res, rej) => {
      holder.stdout.once('data', () => res());
      holder.once('exit', (code) => rej(new Error(`flock exited ${code}`)));
    });
    // A call can only finish before the release by failing: then stop waiting and show it.
    let early: RunResult | undefined;
    const running = calls.map((c) =>
      c().then((r) => {
        if (holder.exitCode === null) early ??= r;
        return r;
      }),
    );
    const ino = statSync(lock).ino;
    // 2N processes starting on a busy machine may take minutes to reach the lock: a hang guard only.
    await waitFor(
      `${calls.length} calls to queue on the lock`,
      () => early !== undefined || flockWaiters(ino) === calls.length,
      300_000,
      250,
    );
    expect(early).toBeUndefined();
    holder.stdin.end(); // cat exits, flock releases the lock
    return await Promise.all(running);
  } finally {
    if (holder.exitCode === null && holder.pid) holder.kill('SIGKILL');
  }
}

const addressesOf = (r: RunResult): string[] =>
  ((r.json as { ips?: Array<{ address: string }> } | undefined)?.ips ?? []).map((i) => i.address.split('/')[0] ?? '');

describe(`mixed binaries on one store (${N} + ${N} calls)`, () => {
  it('bursts of ADDs then interleaved DELs, three rounds: no duplicate address, every lease names its container', async () => {
    const dataDir = newStore();
    expect((await call(OURS, 'ADD', 'warmup', dataDir)).code).toBe(0); // creates the store and its lock
    expect((await call(REF, 'DEL', 'warmup', dataDir)).code).toBe(0);
    for (let round = 1; round <= 3; round++) {
      const ids = Array.from({ length: 2 * N }, (_, i) => `r${round}-${i % 2 === 0 ? 'ours' : 'ref'}-${i}`);
      const binOf = (i: number): string => (i % 2 === 0 ? OURS : REF);
      const adds = await burst(
        dataDir,
        ids.map((id, i) => () => call(binOf(i), 'ADD', id, dataDir)),
      );
      const failed = adds.flatMap((r, i) => (r.code === 0 ? [] : [`${ids[i]}: ${r.stdout}`]));
      expect(failed).toEqual([]);
      // No address twice, and the store holds exactly the handed-out addresses, each naming its container.
      const owner = new Map<string, string>();
      adds.forEach((r, i) => {
        const ips = addressesOf(r);
        expect(ips).toHaveLength(2);
        for (const ip of ips) {
          expect(owner.get(ip)).toBeUndefined();
          owner.set(ip, ids[i] ?? '');
        }
      });
      const files = leases(dataDir);
      expect([...files.keys()].sort()).toEqual([...owner.keys()].sort());
      for (const [ip, content] of files) expect(content).toBe(`${owner.get(ip)}\r\neth0`);

      // Every container is deleted by the other binary, ours and the reference's interleaved.
      const dels = await burst(
        dataDir,
        ids.map((id, i) => () => call(binOf(i + 1), 'DEL', id, dataDir)),
      );
      expect(dels.filter((r) => r.code !== 0).map((r) => r.stdout)).toEqual([]);
      expect([...leases(dataDir).keys()]).toEqual([]);
    }
    // Our next call sees what the reference removed: no index entry outlives its lease.
    expect((await call(OURS, 'DEL', 'nobody', dataDir)).code).toBe(0);
    expect(indexEntries(dataDir)).toEqual([]);
  }, 1_200_000);

  it('the reference allocates between two of our calls: our index follows, our allocation avoids it', async () => {
    const dataDir = newStore();
    const a = await call(OURS, 'ADD', 'a', dataDir);
    const b = await call(REF, 'ADD', 'b', dataDir);
    const [ipA4, ipA6] = addressesOf(a);
    const [ipB4, ipB6] = addressesOf(b);
    expect([ipA4, ipA6, ipB4, ipB6]).toEqual(['10.40.0.2', 'fd00:40::2', '10.40.0.3', 'fd00:40::3']);
    // The next of ours neither hands out the reference's addresses nor restarts the round robin.
    expect(addressesOf(await call(OURS, 'ADD', 'c', dataDir))).toEqual(['10.40.0.4', 'fd00:40::4']);
    // It knows b's lease although the reference wrote it: a second ADD of b is refused as the
    // reference refuses it, CHECK finds it, and our DEL releases it.
    const again = await call(OURS, 'ADD', 'b', dataDir);
    expect(again.code).toBe(1);
    expect((again.json as { msg: string }).msg).toBe(
      'failed to allocate for range 0: 10.40.0.3 has been allocated to b, duplicate allocation is not allowed',
    );
    expect((await call(OURS, 'CHECK', 'b', dataDir)).code).toBe(0);
    expect((await call(OURS, 'DEL', 'b', dataDir)).code).toBe(0);
    expect([...leases(dataDir).keys()].sort()).toEqual(['10.40.0.2', '10.40.0.4', 'fd00:40::2', 'fd00:40::4']);
    expect(indexEntries(dataDir).sort()).toEqual(['a:eth0', 'c:eth0']);
    // And the reference, in turn, follows ours.
    expect(addressesOf(await call(REF, 'ADD', 'd', dataDir))).toEqual(['10.40.0.5', 'fd00:40::5']);
    expect((await call(REF, 'DEL', 'c', dataDir)).code).toBe(0);
    expect((await call(OURS, 'CHECK', 'c', dataDir)).code).toBe(1);
    expect((await call(OURS, 'DEL', 'd', dataDir)).code).toBe(0);
    expect([...leases(dataDir).keys()].sort()).toEqual(['10.40.0.2', 'fd00:40::2']);
  });
});
