/**
 * `tscni reload --watch`: stays running and repairs the rules under running containers soon
 * after something removed them, without polling the firewall. What wakes it (wake sources):
 * nftables change notifications (lib/netlink/nft-events.ts: `nft flush ruleset`, and iptables-nft's
 * `iptables -F` alike), firewalld's `Reloaded` signal and restart (lib/firewall/firewalld-signals.ts),
 * and a periodic full check as the backstop (iptables-legacy, a missed notice). Wakes are
 * debounced: a pass starts once the triggers have been quiet for `quietMs`, and no later than
 * `maxDelayMs` after the first, so a flush of many rules (one notice each) costs one pass. A
 * trigger during a pass queues one more pass after it (what that pass restored makes notices
 * of its own; the next pass finds everything intact, writes nothing, and the loop goes quiet).
 * A source that fails or is lost (no system bus, the bus restarted) is retried at each periodic
 * check. Optionally, `tscni gc` runs every `gcIntervalMs`, never at the same time as a pass.
 *
 * The loop is plain timers and callbacks, with its clock passed in (unit tests use fake timers).
 */

/** The wake sources `--wake` can name: nftables notices, firewalld's signals. */
export const WAKE_NAMES = ['nftables', 'firewalld'] as const;
export type WakeName = (typeof WAKE_NAMES)[number];

export interface WakeSource {
  /** For logs, e.g. "nftables events". */
  readonly name: string;
  /**
   * Starts listening: `wake(reason)` on every trigger, `lost(error)` once when the source stops
   * by itself. Throws (or rejects) when the source cannot be had now.
   */
  start(wake: (reason: string) => void, lost: (e: Error) => void): Promise<void> | void;
  stop(): void;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
};

export interface WatchOptions {
  readonly sources: readonly WakeSource[];
  /** One reload pass; `reasons` are the triggers it answers. */
  readonly pass: (reasons: readonly string[]) => Promise<void>;
  /** One gc run (only with gcIntervalMs > 0). */
  readonly gc?: () => Promise<void>;
  readonly quietMs: number;
  readonly maxDelayMs: number;
  /** The periodic full check; 0 turns it off. */
  readonly intervalMs: number;
  /** Periodic gc; 0 (the default) turns it off. */
  readonly gcIntervalMs: number;
  readonly timers?: Timers;
  readonly log: (line: string) => void;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class Watcher {
  private readonly t: Timers;
  private readonly reasons = new Set<string>();
  private firstAt = 0;
  private debounce: unknown;
  private periodic: unknown;
  private gcTimer: unknown;
  private busy = false;
  private gcDue = false;
  private stopped = false;
  private readonly up = new Set<WakeSource>();
  /** Settles when the current job (pass or gc) ends; tests await it. */
  idle: Promise<void> = Promise.resolve();

  constructor(private readonly o: WatchOptions) {
    this.t = o.timers ?? realTimers;
  }

  /** Starts every source it can, then runs a first pass (rules may have gone while nobody watched). */
  async start(): Promise<void> {
    await this.startSources();
    this.trigger('start');
    this.schedulePeriodic();
    this.scheduleGc();
  }

  stop(): void {
    this.stopped = true;
    for (const h of [this.debounce, this.periodic, this.gcTimer]) if (h !== undefined) this.t.clearTimeout(h);
    for (const s of this.up) s.stop();
    this.up.clear();
  }

  /** Names of the sources listening now. */
  listening(): string[] {
    return this.o.sources.filter((s) => this.up.has(s)).map((s) => s.name);
  }

  private async startSources(): Promise<void> {
    for (const s of this.o.sources) {
      if (this.up.has(s) || this.stopped) continue;
      try {
        await s.start(
          (reason) => this.trigger(reason),
          (e) => {
            if (!this.up.delete(s)) return;
            this.o.log(`${s.name} lost (${message(e)}); retried at the next periodic check`);
            this.trigger(`${s.name} lost`); // whatever it would have told us meanwhile
          },
        );
        this.up.add(s);
      } catch (e) {
        this.o.log(`${s.name} unavailable: ${message(e)}`);
      }
    }
  }

  /** A trigger: a pass follows once triggers have been quiet for quietMs (at most maxDelayMs after the first). */
  trigger(reason: string): void {
    if (this.stopped) return;
    const now = this.t.now();
    if (this.reasons.size === 0) this.firstAt = now;
    this.reasons.add(reason);
    if (this.busy) return; // scheduled when the running job ends
    this.arm(now);
  }

  private arm(now: number): void {
    if (this.debounce !== undefined) this.t.clearTimeout(this.debounce);
    const wait = Math.max(0, Math.min(this.o.quietMs, this.firstAt + this.o.maxDelayMs - now));
    this.debounce = this.t.setTimeout(() => {
      this.debounce = undefined;
      this.runNext();
    }, wait);
  }

  private runNext(): void {
    if (this.busy || this.stopped) return;
    if (this.gcDue) {
      this.gcDue = false;
      this.runJob('gc', async () => this.o.gc?.());
    } else if (this.reasons.size > 0) {
      const reasons = [...this.reasons];
      this.reasons.clear();
      this.runJob(`pass (${reasons.join(', ')})`, () => this.o.pass(reasons));
    }
  }

  private runJob(what: string, job: () => Promise<void>): void {
    this.busy = true;
    this.idle = job()
      .catch((e: unknown) => this.o.log(`${what} failed: ${message(e)}`))
      .finally(() => {
        this.busy = false;
        if (this.gcDue || this.reasons.size > 0) {
          // Triggers that came during the job: debounce from now, they may still be coming.
          if (this.reasons.size > 0 && this.t.now() - this.firstAt > this.o.maxDelayMs) this.firstAt = this.t.now();
          this.arm(this.t.now());
        }
      });
  }

  private schedulePeriodic(): void {
    if (this.o.intervalMs <= 0 || this.stopped) return;
    this.periodic = this.t.setTimeout(() => {
      void this.startSources().then(() => {
        this.trigger('periodic check');
        this.schedulePeriodic();
      });
    }, this.o.intervalMs);
  }

  private scheduleGc(): void {
    if (this.o.gcIntervalMs <= 0 || !this.o.gc || this.stopped) return;
    this.gcTimer = this.t.setTimeout(() => {
      this.gcDue = true;
      if (!this.busy) this.arm(this.t.now());
      this.scheduleGc();
    }, this.o.gcIntervalMs);
  }
}
