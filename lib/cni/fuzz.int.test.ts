/**
 * The hostile-input fuzzer (lib/testutil/fuzz.ts) against the shipped executable: a short run in
 * `make test` (FUZZ_RUNS generated calls, 25 by default), a long one with `make fuzz` (FUZZ_SECONDS of calls).
 * FUZZ_SEED replays a run. A finding fails the test with the call as a shell line.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { appendFileSync } from 'node:fs';
import { requireProgram } from '../testutil/programs';
import { describeCall, fuzzCall, World, type Finding } from '../testutil/fuzz';

const seconds = Number(process.env['FUZZ_SECONDS'] ?? 0);
const runs = seconds > 0 ? Number.MAX_SAFE_INTEGER : Number(process.env['FUZZ_RUNS'] ?? 25);
const log = process.env['FUZZ_LOG'];
const seed = process.env['FUZZ_SEED'] !== undefined ? Number(process.env['FUZZ_SEED']) : undefined;

let w: World;
beforeAll(async () => {
  for (const p of ['ip', 'nft', 'nsenter', 'unshare', 'prlimit', 'mkfifo'] as const) requireProgram(p);
  w = await World.create();
});
afterAll(async () => w?.destroy());

it(
  'every plugin and verb given hostile env and config: one JSON document, a known code, nothing outside, nothing left',
  async () => {
    const findings: Finding[] = [];
    const started = Date.now();
    let error: unknown;
    try {
      await fc.assert(
        fc.asyncProperty(fuzzCall(w.sb.dir), async (c) => {
          const f = await w.check(c);
          findings.push(...f);
          // The long run's progress, for whoever watches it (FUZZ_LOG=<file>).
          if (log && (w.calls % 50 < 2 || f.length > 0))
            appendFileSync(log, `${new Date().toISOString()} calls=${w.calls} findings=${findings.length}\n`);
          return f.length === 0;
        }),
        {
          numRuns: runs,
          seed,
          // The long run: stop once FUZZ_SECONDS have passed (fast-check's interrupt, not a failure).
          ...(seconds > 0 ? { interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false } : {}),
          endOnFailure: true,
        },
      );
    } catch (e) {
      error = e;
    }
    const summary = `fuzz: ${w.calls} plugin calls in ${Math.round((Date.now() - started) / 1000)} s, ${findings.length} findings`;
    const outcomes = [...w.outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`);
    process.stdout.write(`${summary}\noutcomes (verb, code): ${outcomes.join(', ')}\n`);
    process.stdout.write(`code 999 messages:\n  ${[...w.internal].join('\n  ')}\n`);
    const shown = findings
      .slice(0, 5)
      .map(
        (f) => `${f.what}\n  ${describeCall(w, f.call)}\n  -> exit ${f.result?.code} ${f.result?.stdout.slice(0, 500)}`,
      )
      .join('\n');
    expect(`${shown}${error === undefined ? '' : `\n${String(error).slice(0, 3000)}`}`).toBe('');
  },
  seconds > 0 ? (seconds + 600) * 1000 : 900_000,
);
