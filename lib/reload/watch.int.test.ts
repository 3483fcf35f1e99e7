/**
 * `tscni reload --watch` in a sandbox, on both backends: the watcher runs in the sandbox host's
 * netns with a private message bus as its system bus; `iptables -F`, `iptables -t nat -F`,
 * `nft flush ruleset` (inside the sandbox host only) and a firewalld-style `Reloaded` signal each
 * bring masquerade and port forwarding back, with no command from the test. Restoration is
 * waited for as a condition (the ruleset as before the flush, then traffic); the time it took is
 * measured over ROUNDS flushes per trigger and printed (p50/max), never asserted. With
 * `--gc-interval`, attachments leaked by a runtime that died are collected by the watcher's own
 * gc runs. On the iptables backend the watcher's CPU time is also measured while idle and during
 * a burst of 50 ADDs.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeFirewalld, PrivateBus } from '../testutil/dbus';
import { requireProgram } from '../testutil/programs';
import { expectServing, SERVED, world, type Backend, type World } from '../testutil/reload-world';
import { BIN_DIR, run, runOk } from '../testutil/sandbox';
import { waitFor } from '../testutil/wait';

const ROUNDS = Number(process.env['TSCNI_WATCH_ROUNDS'] ?? 20);
/** Idle CPU is measured over this long (README's figure: a minute). */
const IDLE_S = Number(process.env['TSCNI_WATCH_IDLE_S'] ?? 60);
const BURST = 50;
/** Per test: 20 rounds, or a minute idle and 50 ADDs and DELs, on a loaded 2-core machine. */
const LONG = 1_200_000;

/** The watcher process, its output kept for messages. */
class WatchProcess {
  out = '';
  private constructor(readonly child: ChildProcess) {}

  static async start(w: World, bus: PrivateBus, args: string[]): Promise<WatchProcess> {
    const env = { ...w.env, DBUS_SYSTEM_BUS_ADDRESS: bus.address, PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
    const child = spawn(
      'ip',
      ['netns', 'exec', w.sb.hostNs, join(BIN_DIR, 'tscni'), 'reload', '--watch', '--interval', '3600', ...args],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const p = new WatchProcess(child);
    child.stdout?.on('data', (b: Buffer) => (p.out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (p.out += b.toString()));
    await waitFor('the watcher to listen', () => p.out.includes(': watching ') || child.exitCode !== null);
    if (child.exitCode !== null) throw new Error(`the watcher exited: ${p.out}`);
    // Its first pass (everything intact) is done before the test breaks anything.
    await waitFor('its first pass', () => p.out.includes('pass for start'));
    return p;
  }

  /** User and system CPU of the watcher and the programs it ran (clock ticks: 1/100 s). */
  cpuTicks(): number {
    const f = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // utime, stime, cutime, cstime are fields 14-17 of stat; here 0-based after the command.
    return [11, 12, 13, 14].reduce((n, i) => n + Number(f[i] ?? 0), 0);
  }

  passes(): number {
    return (this.out.match(/: pass for /g) ?? []).length;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

type Trigger = 'iptables -F' | 'iptables -t nat -F' | 'nft flush ruleset';

async function breakRules(w: World, t: Trigger): Promise<void> {
  await runOk(['ip', 'netns', 'exec', w.sb.hostNs, ...t.split(' ')]);
}

/**
 * Breaks the rules ROUNDS times and waits each time until they are as before; returns the
 * milliseconds from each break (or `after()`) until then, and whether the break changed anything.
 */
async function rounds(
  w: World,
  what: string,
  doBreak: () => Promise<void>,
  after?: () => void,
): Promise<{ ms: number[]; affected: boolean }> {
  const before = await w.ruleSet();
  const ms: number[] = [];
  let affected = false;
  for (let i = 0; i < ROUNDS; i++) {
    await doBreak();
    let t0 = Date.now();
    if (after) {
      affected ||= JSON.stringify(await w.ruleSet()) !== JSON.stringify(before);
      t0 = Date.now();
      after();
    }
    await waitFor(
      `the rules back after ${what} (round ${i + 1})`,
      async () => {
        const now = await w.ruleSet();
        const same = JSON.stringify(now) === JSON.stringify(before);
        if (!same) affected = true;
        return same;
      },
      undefined,
      10,
    );
    ms.push(Date.now() - t0);
  }
  return { ms, affected };
}

function report(backend: Backend, what: string, r: { ms: number[]; affected: boolean }): void {
  const line = r.affected
    ? `p50 ${percentile(r.ms, 50)} ms, max ${Math.max(...r.ms)} ms over ${r.ms.length} rounds (until the ruleset is as before, polled every ~10 ms)`
    : 'removed none of the rules of this backend';
  process.stdout.write(`watch latency [${backend}] ${what}: ${line}\n`);
}

describe.each<Backend>(['iptables', 'nftables'])('tscni reload --watch (%s)', (backend) => {
  let w: World;
  let bus: PrivateBus;
  let fw: FakeFirewalld;
  let watcher: WatchProcess | undefined;
  beforeAll(async () => {
    requireProgram('dbus-daemon');
    w = await world(backend, `wt${backend.slice(0, 3)}`);
    bus = await PrivateBus.start(w.sb.dir);
    fw = await FakeFirewalld.start(bus.socket);
    watcher = await WatchProcess.start(w, bus, []);
    expect(watcher.out).toContain('watching nftables events and firewalld signals');
  });
  afterAll(async () => {
    if (process.env['TSCNI_WATCH_LOG']) process.stdout.write(watcher?.out ?? '');
    await watcher?.stop();
    fw?.stop();
    bus?.stop();
    await w?.destroy();
  });

  it.each<Trigger>(['iptables -F', 'iptables -t nat -F', 'nft flush ruleset'])(
    '%s: masquerade and port forwarding come back without a command',
    async (trigger) => {
      await expectServing(w);
      const r = await rounds(w, trigger, () => breakRules(w, trigger));
      // What the flush took is back, and carries traffic.
      await expectServing(w);
      report(backend, trigger, r);
      if (backend === 'iptables' || trigger === 'nft flush ruleset') expect(r.affected).toBe(true);
    },
    LONG,
  );

  it(
    'a firewalld Reloaded signal brings them back (nftables notices not listened to)',
    async () => {
      await watcher?.stop();
      watcher = await WatchProcess.start(w, bus, ['--wake', 'firewalld']);
      expect(watcher.out).toContain('watching firewalld signals;');
      // firewalld flushes and rebuilds its own rules, then says so: the flush, then the signal.
      const r = await rounds(
        w,
        'firewalld Reloaded',
        () => breakRules(w, 'nft flush ruleset'),
        () => fw.reloaded(),
      );
      expect(r.affected).toBe(true);
      await expectServing(w);
      report(backend, 'firewalld Reloaded signal (after nft flush ruleset)', r);
      expect(watcher.out).toMatch(/pass for firewalld reloaded/);
    },
    LONG,
  );

  it(
    '--gc-interval: gc runs on its own every interval and collects leaked attachments, the live ones kept',
    async () => {
      await watcher?.stop();
      watcher = await WatchProcess.start(w, bus, ['--gc-interval', '1']);
      expect(watcher.out).toMatch(/; gc every 1 s/);
      const p = watcher;
      // Two leaks, one after the other's collection: each is found by a later run of the interval.
      for (const [name, port] of [
        ['g1', 8091],
        ['g2', 8092],
      ] as const) {
        await w.add(name, port);
        const id = w.cid(name);
        const lease = (): string[] =>
          readdirSync(join(w.sb.dir, 'leases', 'rlnet')).filter(
            (f) =>
              /^[0-9]/.test(f) && readFileSync(join(w.sb.dir, 'leases', 'rlnet', f), 'utf8').startsWith(`${id}\r\n`),
          );
        const cached = (): boolean => existsSync(join(w.env['CNI_CACHE_DIR'] ?? '', 'results', `rlnet-${id}-eth0`));
        expect({ lease: lease().length, cached: cached(), rules: (await w.rules()).includes(id) }).toEqual({
          lease: 1,
          cached: true,
          rules: true,
        });
        // Its runtime died with it: the netns is gone; lease, cache entry and rules stay. Nothing
        // else is done: only the watcher's gc can collect it.
        await w.sb.removeContainer(name);
        await waitFor(`the watcher's gc to collect ${name}`, () =>
          new RegExp(`gc collected +rlnet/${id}/eth0: `).test(p.out),
        );
        expect({ lease: lease().length, cached: cached(), rules: (await w.rules()).includes(id) }).toEqual({
          lease: 0,
          cached: false,
          rules: false,
        });
      }
      expect((p.out.match(/: gc: \d+ collected/g) ?? []).length).toBeGreaterThanOrEqual(2);
      // gc prints only what it did not keep: nothing of the live containers, nothing failed.
      for (const [name] of SERVED) expect(p.out).not.toMatch(new RegExp(`gc \\S+ +rlnet/${w.cid(name)}/`));
      expect(p.out).not.toMatch(/ gc failed[ :]/);
      await expectServing(w);
    },
    LONG,
  );

  if (backend === 'iptables')
    it(
      `costs little: CPU idle over ${IDLE_S} s and during a burst of ${BURST} ADDs`,
      async () => {
        await watcher?.stop();
        watcher = await WatchProcess.start(w, bus, []);
        const p = watcher;
        const idle0 = p.cpuTicks();
        await new Promise((r) => setTimeout(r, IDLE_S * 1000));
        const idle = p.cpuTicks() - idle0;
        expect(p.passes()).toBe(1); // the first one; nothing woke it since

        const names = Array.from({ length: BURST }, (_, i) => `b${i}`);
        for (const n of names) await w.sb.addContainer(n);
        const passes0 = p.passes();
        const add0 = p.cpuTicks();
        const t0 = Date.now();
        // All at once, as a node starting many pods: on a busy machine that takes longer than one call's guard.
        const add = (n: string, port: number): Promise<unknown> =>
          run(
            [
              'ip',
              'netns',
              'exec',
              w.sb.hostNs,
              'env',
              ...Object.entries(w.env).map(([k, v]) => `${k}=${v}`),
              `CAP_ARGS=${JSON.stringify({ portMappings: [{ hostPort: port, containerPort: 80, protocol: 'tcp' }] })}`,
              join(BIN_DIR, 'tscni'),
              'add',
              'rlnet',
              w.netns(n),
            ],
            { timeoutMs: 600_000 },
          ).then((r) => {
            if (r.code !== 0) throw new Error(`tscni add ${n}: ${r.code} ${r.stderr}`);
          });
        await Promise.all(names.map((n, i) => add(n, 9100 + i)));
        const addWall = Date.now() - t0;
        // Let a pass that the burst started finish before reading the CPU.
        await waitFor('the watcher to be quiet', async () => {
          const n = p.passes();
          await new Promise((r) => setTimeout(r, 1500));
          return p.passes() === n;
        });
        const addCpu = p.cpuTicks() - add0;
        const addPasses = p.passes() - passes0;

        const del0 = p.cpuTicks();
        const passes1 = p.passes();
        const out1 = p.out.length;
        for (let i = 0; i < names.length; i += 10) await Promise.all(names.slice(i, i + 10).map((n) => w.del(n)));
        await waitFor('the watcher to be quiet', async () => {
          const n = p.passes();
          await new Promise((r) => setTimeout(r, 1500));
          return p.passes() === n;
        });
        const del = p.cpuTicks() - del0;
        const delPasses = p.passes() - passes1;
        const delPrograms = [...p.out.slice(out1).matchAll(/: pass for .*, (\d+) programs\)/g)].map((m) => m[1]);
        await expectServing(w);
        for (const n of names) expect((await w.rules()).includes(w.cid(n))).toBe(false);
        process.stdout.write(
          `watch CPU [iptables]: idle ${idle * 10} ms over ${IDLE_S} s; ` +
            `burst of ${BURST} ADDs (${addWall} ms wall): ${addCpu * 10} ms in ${addPasses} passes; ` +
            `their ${BURST} DELs (10 at a time): ${del * 10} ms in ${delPasses} passes ` +
            `(programs per pass: ${delPrograms.join(', ')})\n`,
        );
      },
      LONG,
    );
});
