/** The watcher's loop on a hand-driven clock: debouncing, passes queued behind passes, periodic checks, lost sources, gc. */
import { describe, expect, it } from '@jest/globals';
import { Watcher, type Timers, type WakeSource } from './watch';

class FakeClock implements Timers {
  private t = 0;
  private seq = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.due.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.due.delete(h as number);
  }
  now(): number {
    return this.t;
  }
  /** Moves time forward, firing timers in order, letting promises settle between them. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      const next = [...this.due.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (!next || next[1].at > end) break;
      this.due.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
    await flush();
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

class FakeSource implements WakeSource {
  wake: ((r: string) => void) | undefined;
  lost: ((e: Error) => void) | undefined;
  starts = 0;
  failNext = false;
  constructor(readonly name: string) {}
  start(wake: (r: string) => void, lost: (e: Error) => void): void {
    this.starts++;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('no bus');
    }
    this.wake = wake;
    this.lost = lost;
  }
  stop(): void {
    this.wake = undefined;
  }
}

function setup(opts: { intervalMs?: number; gcIntervalMs?: number; passMs?: number } = {}) {
  const clock = new FakeClock();
  const src = new FakeSource('nftables events');
  const passes: string[][] = [];
  const gcs: number[] = [];
  const log: string[] = [];
  const w = new Watcher({
    sources: [src],
    pass: async (reasons) => {
      passes.push([...reasons]);
      if (opts.passMs) await new Promise<void>((r) => clock.setTimeout(r, opts.passMs ?? 0));
    },
    gc: async () => void gcs.push(clock.now()),
    quietMs: 100,
    maxDelayMs: 500,
    intervalMs: opts.intervalMs ?? 60_000,
    gcIntervalMs: opts.gcIntervalMs ?? 0,
    timers: clock,
    log: (l) => void log.push(l),
  });
  return { clock, src, passes, gcs, log, w };
}

describe('Watcher', () => {
  it('runs a first pass at start, then one pass per burst of triggers once they are quiet', async () => {
    const { clock, src, passes, w } = setup();
    await w.start();
    await clock.advance(100);
    expect(passes).toEqual([['start']]);
    for (let i = 0; i < 5; i++) {
      src.wake?.('nftables: rules deleted');
      await clock.advance(50);
    }
    expect(passes).toHaveLength(1);
    await clock.advance(100);
    expect(passes).toEqual([['start'], ['nftables: rules deleted']]);
    w.stop();
  });

  it('does not wait longer than maxDelayMs while triggers keep coming', async () => {
    const { clock, src, passes, w } = setup();
    await w.start();
    await clock.advance(100);
    const t0 = clock.now();
    let firedAt = -1;
    for (let i = 0; i < 20 && firedAt < 0; i++) {
      src.wake?.('x');
      await clock.advance(60);
      if (passes.length === 2) firedAt = clock.now();
    }
    expect(firedAt - t0).toBeLessThanOrEqual(560);
    w.stop();
  });

  it('queues exactly one more pass for triggers during a pass', async () => {
    const { clock, src, passes, w } = setup({ passMs: 1000 });
    await w.start();
    await clock.advance(150); // the first pass is running
    src.wake?.('a');
    src.wake?.('b');
    await clock.advance(300);
    expect(passes).toEqual([['start']]);
    await clock.advance(1000);
    expect(passes).toEqual([['start'], ['a', 'b']]);
    await clock.advance(5000);
    expect(passes).toHaveLength(2);
    w.stop();
  });

  it('checks periodically and restarts a source that was lost or unavailable', async () => {
    const { clock, src, passes, log, w } = setup({ intervalMs: 1000 });
    src.failNext = true;
    await w.start();
    expect(w.listening()).toEqual([]);
    expect(log[0]).toMatch(/nftables events unavailable: no bus/);
    await clock.advance(1200);
    expect(src.starts).toBe(2);
    expect(w.listening()).toEqual(['nftables events']);
    expect(passes.map((p) => p.join())).toEqual(['start', 'periodic check']);
    src.lost?.(new Error('bus closed'));
    expect(w.listening()).toEqual([]);
    await clock.advance(200);
    expect(passes.at(-1)).toEqual(['nftables events lost']);
    await clock.advance(1000);
    expect(src.starts).toBe(3);
    w.stop();
  });

  it('runs gc on its own interval, never during a pass, and not at all by default', async () => {
    const a = setup({ gcIntervalMs: 0, intervalMs: 0 });
    await a.w.start();
    await a.clock.advance(10_000);
    expect(a.gcs).toEqual([]);
    a.w.stop();

    const b = setup({ gcIntervalMs: 1000, intervalMs: 0, passMs: 700 });
    await b.w.start();
    await b.clock.advance(950); // first pass: 100..800
    b.src.wake?.('x'); // pass 2 at 1050..1750; gc due at 1000 waits its turn
    await b.clock.advance(3000);
    expect(b.gcs.length).toBeGreaterThanOrEqual(2);
    expect(b.gcs[0]).toBeGreaterThanOrEqual(1000);
    b.w.stop();
  });
});
