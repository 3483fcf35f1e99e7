import { warn } from './log';

/**
 * Rollback for ADD: push an undo right after each side effect; on failure `unwind` runs them
 * in reverse order (each best effort) and the caller rethrows the original error.
 */
export class UndoStack {
  private readonly steps: Array<{ what: string; fn: () => Promise<unknown> }> = [];
  private readonly running: Array<Promise<unknown>> = [];

  push(what: string, fn: () => Promise<unknown>): void {
    this.steps.push({ what, fn });
  }

  /**
   * Registers work that runs while the caller goes on (e.g. a firewall command started before
   * the netlink steps): a failure elsewhere then waits for it to settle before undoing, so a
   * rollback never races a running step. The caller still awaits the returned promise.
   */
  track<T>(work: Promise<T> | undefined): Promise<T | undefined> {
    if (!work) return Promise.resolve(undefined);
    work.catch(() => undefined); // awaited by the caller, or settled by unwind on failure
    this.running.push(work);
    return work;
  }

  async unwind(): Promise<void> {
    await Promise.allSettled(this.running);
    while (this.steps.length > 0) {
      const step = this.steps.pop();
      if (!step) break;
      try {
        await step.fn();
      } catch (e) {
        warn(`rollback step "${step.what}" failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  /** Runs `body` with this stack; unwinds and rethrows if it throws. */
  async guard<T>(body: (undo: UndoStack) => Promise<T>): Promise<T> {
    try {
      return await body(this);
    } catch (e) {
      await this.unwind();
      throw e;
    }
  }
}
