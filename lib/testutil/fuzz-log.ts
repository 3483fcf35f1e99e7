/**
 * The fuzzer's log (FUZZ_LOG=<file>), test-only: the run's start and seed, each call before it
 * is made, progress, and one line saying how the run ended and which call was being made then,
 * so that a run that dies can be read afterwards and its last call replayed.
 *
 * One recorder per test file, made by its jest environment (fuzz-env.ts) in the outer realm and
 * handed to the test through a global: only there can it see the real process's end (signals,
 * 'exit'), which a test file's `process` (a copy jest makes) never hears of.
 */
import { appendFileSync } from 'node:fs';

export interface FuzzRecorder {
  /** Appends a timestamped line (nothing without FUZZ_LOG). */
  note(line: string): void;
  /** The run begins: its seed is what a replay needs. */
  start(seed: number, what: string): void;
  /** The call about to run (fast-check's run index, for FUZZ_PATH, and the call as a shell line). */
  starting(index: number, call: string): void;
  /** How the run ended; the first reason given is the one logged, with the last call begun. */
  end(reason: string): void;
  /** The reason logged, if any. */
  readonly ended: string | undefined;
  /** What to undo when a signal ends the process (the sandbox), as afterAll would have. */
  atSignal(cleanup: () => Promise<void>): void;
  /** Runs what atSignal registered, for at most `ms`. */
  cleanUp(ms: number): Promise<void>;
}

class Recorder implements FuzzRecorder {
  private seed: number | undefined;
  private last: { index: number; call: string } | undefined;
  private cleanups: Array<() => Promise<void>> = [];
  ended: string | undefined;

  constructor(private readonly path: string | undefined) {}

  note(line: string): void {
    if (!this.path) return;
    try {
      appendFileSync(this.path, `${new Date().toISOString()} ${line}\n`);
    } catch {
      // a log that cannot be written must not end the run
    }
  }

  start(seed: number, what: string): void {
    this.seed = seed;
    this.note(`start: seed=${seed} ${what}`);
  }

  starting(index: number, call: string): void {
    this.last = { index, call };
    this.note(`call ${index}: ${call}`);
  }

  end(reason: string): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    const last = this.last
      ? `last call begun: ${this.last.index} (replay it alone: FUZZ_SEED=${this.seed} FUZZ_PATH=${this.last.index})`
      : 'no call begun';
    this.note(`end: ${reason}; ${last}`);
  }

  atSignal(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  async cleanUp(ms: number): Promise<void> {
    const all = this.cleanups
      .splice(0)
      .map((f) => f().catch((e: unknown) => this.note(`cleanup failed: ${String(e)}`)));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((res) => (timer = setTimeout(res, ms)));
    await Promise.race([Promise.all(all), late]);
    clearTimeout(timer);
  }
}

const KEY = '__tscniFuzzRecorder';

export function createRecorder(path: string | undefined): FuzzRecorder {
  return new Recorder(path);
}

/** Installs `r` as the recorder of the test realm whose global object is `g`. */
export function installRecorder(g: object, r: FuzzRecorder): void {
  (g as Record<string, unknown>)[KEY] = r;
}

/** The recorder the jest environment installed, else one of this realm's own (no end of the process seen). */
export function recorder(path: string | undefined): FuzzRecorder {
  const r = (globalThis as Record<string, unknown>)[KEY] as FuzzRecorder | undefined;
  return r ?? createRecorder(path);
}
