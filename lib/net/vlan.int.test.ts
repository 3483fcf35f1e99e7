/**
 * The VLAN sub-interface lifetime under real concurrency, in a sandbox: separate processes
 * (vlan.driver.ts, compiled with Bun) acquire and release at once, and processes are killed with
 * SIGKILL inside the lock. Where the kernel has no 802.1Q the sub-interface is a macvlan stand-in
 * of the same name; what is tested — the flock, the state files, the ownership alias — does not
 * depend on the link type.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { kernelHasLinkKind } from '../testutil/kernel';
import { flockHolders, flockWaiters } from '../testutil/locks';
import { REPO_ROOT, Sandbox, runOk } from '../testutil/sandbox';
import { waitFor } from '../testutil/wait';

const BUN = join(REPO_ROOT, 'node_modules', '.bin', 'bun');
const standIn = !kernelHasLinkKind('vlan');
let sb: Sandbox;
let driver = '';
let stateDir = '';

interface Reply {
  ok: boolean;
  message?: string;
  value?: { owned?: boolean; added?: boolean; index?: number; missing?: number; removed?: string[] };
}

async function drive(op: string, user: string, extra: Record<string, unknown> = {}): Promise<Reply> {
  const args = JSON.stringify({ op, dir: stateDir, parent: 'phys0', vid: 10, user, standIn, ...extra });
  const r = await sb.exec('host', [driver, args]);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Reply;
}

/** Starts a driver that will hang; returns a function that kills it (SIGKILL, by its PID) and waits. */
function startHanging(op: string, user: string): () => Promise<void> {
  const args = JSON.stringify({ op, dir: stateDir, parent: 'phys0', vid: 10, user, standIn });
  // `ip netns exec` execs the command in its own process: the PID is the driver's.
  const child = spawn('ip', ['netns', 'exec', sb.hostNs, driver, args], { stdio: 'ignore' });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  return async () => {
    if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    await exited;
  };
}

const sub = async (): Promise<{ ifalias?: string } | undefined> => {
  const r = await sb.exec('host', ['ip', '-j', 'link', 'show', 'dev', 'phys0.10']);
  return r.code === 0 ? (r.json as Array<{ ifalias?: string }>)[0] : undefined;
};
const stateFiles = (): string[] =>
  existsSync(stateDir) ? readdirSync(stateDir).filter((f) => f.endsWith('.json')) : [];
/** The state directory's one lock, as the kernel lists it: held by how many, waited for by how many. */
const lockState = (): { holders: number; waiters: number } => {
  const lock = join(stateDir, 'lock');
  if (!existsSync(lock)) return { holders: 0, waiters: 0 };
  const ino = statSync(lock).ino;
  return { holders: flockHolders(ino), waiters: flockWaiters(ino) };
};

beforeAll(async () => {
  sb = await Sandbox.create('vlan');
  stateDir = join(sb.dir, 'vlan-state');
  await runOk(['ip', '-n', sb.hostNs, 'link', 'add', 'phys0', 'type', 'veth', 'peer', 'name', 'phys1']);
  await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'phys0', 'up']);
  driver = join(sb.dir, 'vlandriver');
  await runOk([BUN, 'build', '--compile', '--minify', join(__dirname, 'vlan.driver.ts'), '--outfile', driver]);
});
afterAll(async () => sb?.destroy());

describe(`sub-interface lifetime across processes${standIn ? ' (macvlan stand-in: no 802.1Q here)' : ''}`, () => {
  it('16 processes at once: each finds the sub-interface there for as long as it uses it; the last takes it away', async () => {
    for (let round = 0; round < 3; round++) {
      const replies = await Promise.all(
        Array.from({ length: 16 }, (_, i) => drive('cycle', `r${round}-c${i}`, { holdMs: (i * 7) % 40 })),
      );
      for (const r of replies) {
        expect(r).toMatchObject({ ok: true, value: { owned: true, missing: 0 } });
      }
      // The last user out removed it (several did, in turn, where uses did not overlap).
      expect(replies.filter((r) => r.value?.removed?.length).length).toBeGreaterThanOrEqual(1);
      expect(await sub()).toBeUndefined();
      expect(stateFiles()).toEqual([]);
    }
  });

  it('a user keeps it while others come and go; a repeated acquire counts once', async () => {
    expect(await drive('acquire', 'keeper')).toMatchObject({ ok: true, value: { owned: true, added: true } });
    expect(await drive('acquire', 'keeper')).toMatchObject({ ok: true, value: { added: false } });
    expect((await sub())?.ifalias).toMatch(/^tscni: VLAN sub-interface .* \(id [0-9a-f]{12}\)$/);
    const others = await Promise.all(Array.from({ length: 8 }, (_, i) => drive('cycle', `o${i}`, { holdMs: 10 })));
    for (const r of others) expect(r.value).toMatchObject({ missing: 0, removed: [] });
    expect(await sub()).toBeDefined();
    expect(await drive('release', 'keeper')).toMatchObject({ ok: true, value: { removed: ['phys0.10'] } });
    expect(await sub()).toBeUndefined();
  });

  it('a process killed while holding the lock does not block the next one', async () => {
    const kill = startHanging('hang-before-create', 'dies');
    await waitFor('the stuck process to hold the lock', () => lockState().holders === 1);
    let settled = false;
    const waiting = drive('acquire', 'next').finally(() => {
      settled = true;
    });
    await waitFor('the next one to queue on the flock', () => lockState().waiters === 1);
    expect(settled).toBe(false);
    expect(lockState()).toEqual({ holders: 1, waiters: 1 });
    await kill();
    expect(await waiting).toMatchObject({ ok: true, value: { owned: true, added: true } });
    expect(await drive('release', 'next')).toMatchObject({ value: { removed: ['phys0.10'] } });
    expect(await sub()).toBeUndefined();
  });

  it('killed between creating the link and marking it ours: the link is never removed by us', async () => {
    const kill = startHanging('hang-after-create', 'dies2');
    await waitFor('the sub-interface to exist', async () => (await sub()) !== undefined);
    await kill();
    expect(await sub()).toBeDefined();
    expect((await sub())?.ifalias).toBeUndefined();
    expect(await drive('cycle', 'later', { holdMs: 5 })).toMatchObject({
      ok: true,
      value: { owned: false, removed: [] },
    });
    expect(await drive('release', 'dies2')).toMatchObject({ ok: true, value: { removed: [] } });
    expect(await sub()).toBeDefined();
    await runOk(['ip', '-n', sb.hostNs, 'link', 'del', 'phys0.10']);
  });
});
