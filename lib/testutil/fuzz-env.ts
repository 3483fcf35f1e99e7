/**
 * The jest environment of the fuzzer's test file (lib/cni/fuzz.int.test.ts names it in its
 * docblock), test-only: node's environment plus a FUZZ_LOG line for whatever ends the run.
 * A test file cannot listen for its own end: jest gives it a copy of `process` whose events the
 * real process never emits ('exit' or SIGTERM handlers registered there never run), and jest
 * swaps the real process's 'uncaughtException' listeners while it runs a file. An environment
 * runs outside the test's realm, so here the listeners are on the real process:
 *  - the property's own end (normal, FUZZ_SECONDS reached, a finding, an error fast-check threw)
 *    is logged by the test;
 *  - a jest timeout, or an error thrown outside the test's promise, by jest's events below;
 *  - an uncaught exception outside a test ('uncaughtExceptionMonitor': observed, not handled);
 *  - SIGTERM, SIGINT, SIGHUP: logged, the sandbox removed (as afterAll would), then the signal
 *    raised again, so the process ends as it would have;
 *  - the process's exit, with its code, if nothing was logged before.
 * SIGKILL (the OOM killer's) cannot be heard: `make fuzz` logs jest's exit status for that, and
 * the last `call` line in the log is the call that was running.
 */
import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import type { Circus } from '@jest/types';
import { TestEnvironment } from 'jest-environment-node';
import { createRecorder, installRecorder, type FuzzRecorder } from './fuzz-log';

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

const firstLine = (e: unknown): string =>
  (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).split('\n')[0] ?? '';

export default class FuzzEnvironment extends TestEnvironment {
  private readonly rec: FuzzRecorder;
  private readonly onExit = (code: number): void => this.rec.end(`the process exited with code ${code}`);
  private readonly onUncaught = (e: Error, origin: string): void =>
    this.rec.end(
      `${origin === 'unhandledRejection' ? 'an unhandled rejection' : 'an uncaught exception'}: ${firstLine(e)}`,
    );
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.rec.end(`signal ${sig} received`);
    this.unlisten(); // a second signal now does what it would have done
    // The sandbox goes first (its namespaces would outlive the process), then the signal again.
    void this.rec.cleanUp(20_000).finally(() => process.kill(process.pid, sig));
  };

  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    this.rec = createRecorder(process.env['FUZZ_LOG']);
  }

  override async setup(): Promise<void> {
    await super.setup();
    installRecorder(this.global, this.rec);
    process.on('exit', this.onExit);
    process.on('uncaughtExceptionMonitor', this.onUncaught);
    for (const s of SIGNALS) process.on(s, this.onSignal);
  }

  override async teardown(): Promise<void> {
    this.rec.end('jest tore the test file down without the run saying how it ended');
    this.unlisten();
    await super.teardown();
  }

  handleTestEvent(event: Circus.Event): void {
    switch (event.name) {
      case 'test_fn_failure': // a thrown error, or jest's timeout ("Exceeded timeout of ... ms")
        this.rec.end(`jest failed the test: ${firstLine(event.error)}`);
        break;
      case 'hook_failure':
        this.rec.end(`jest's ${event.hook.type} failed: ${firstLine(event.error)}`);
        break;
      case 'error': // jest's own handler of uncaught errors while a file runs
        this.rec.end(`an error outside the test's promise: ${firstLine(event.error)}`);
        break;
      default:
        break;
    }
  }

  private unlisten(): void {
    process.off('exit', this.onExit);
    process.off('uncaughtExceptionMonitor', this.onUncaught);
    for (const s of SIGNALS) process.off(s, this.onSignal);
  }
}
