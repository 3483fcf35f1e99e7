/**
 * @jest-environment ./lib/testutil/fuzz-env.ts
 *
 * The hostile-input fuzzer (lib/testutil/fuzz.ts) against the shipped executable: a short run in
 * `make test` (FUZZ_RUNS generated calls, 25 by default), a long one with `make fuzz` (FUZZ_SECONDS of calls).
 * FUZZ_SEED replays a run, FUZZ_SEED with FUZZ_PATH=<run index> one call of it. A finding fails
 * the test with the call as a shell line. FUZZ_LOG=<file> gets the seed, every call before it is
 * made, progress (memory, namespaces) and how the run ended (the environment above logs what the
 * test cannot see: signals, jest's timeout, the process's exit).
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readdirSync } from 'node:fs';
import { requireProgram } from '../testutil/programs';
import { describeCall, fuzzCall, World, type Finding } from '../testutil/fuzz';
import { recorder } from '../testutil/fuzz-log';
import { run } from '../testutil/sandbox';

const seconds = Number(process.env['FUZZ_SECONDS'] ?? 0);
const runs = seconds > 0 ? Number.MAX_SAFE_INTEGER : Number(process.env['FUZZ_RUNS'] ?? 25);
const rec = recorder(process.env['FUZZ_LOG']);
// fast-check's own default, chosen here so that the log can name it.
const seed =
  process.env['FUZZ_SEED'] !== undefined ? Number(process.env['FUZZ_SEED']) : Date.now() ^ (Math.random() * 2 ** 32);
const path = process.env['FUZZ_PATH'];
/** fast-check's index of the first run made: FUZZ_PATH's first number, where a replay starts. */
const firstIndex = path !== undefined ? Number(path.split(':')[0]) : 0;
const timeoutMs = seconds > 0 ? (seconds + 600) * 1000 : 900_000;

/** What a long run could leak or grow: this process's memory, network namespaces, processes. */
async function health(): Promise<string> {
  const m = process.memoryUsage();
  const mb = (n: number): number => Math.round(n / 2 ** 20);
  const netns = (await run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.trim() !== '').length;
  const procs = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
  return `rss=${mb(m.rss)}M heap=${mb(m.heapUsed)}/${mb(m.heapTotal)}M netns=${netns} processes=${procs}`;
}

let w: World;
beforeAll(async () => {
  for (const p of ['ip', 'nft', 'nsenter', 'unshare', 'prlimit', 'mkfifo'] as const) requireProgram(p);
  const limits = (await run(['prlimit', '--pid', String(process.pid), '--noheadings', '-o', 'RESOURCE,SOFT'])).stdout
    .split('\n')
    .filter((l) => /^(AS|NOFILE|NPROC|RSS) /.test(l))
    .map((l) => l.replace(/\s+/g, '='))
    .join(' ');
  rec.start(
    seed,
    `seconds=${seconds} runs=${path !== undefined ? 1 : seconds > 0 ? 'unbounded' : runs}${path ? ` path=${path}` : ''} jest timeout=${timeoutMs / 1000}s pid=${process.pid} node=${process.version} limits: ${limits}; ${await health()}`,
  );
  w = await World.create();
  rec.atSignal(() => w.destroy());
});
afterAll(async () => w?.destroy());

it(
  'every plugin and verb given hostile env and config: one JSON document, a known code, nothing outside, nothing left',
  async () => {
    const findings: Finding[] = [];
    const started = Date.now();
    let index = 0;
    let error: unknown;
    try {
      await fc.assert(
        fc.asyncProperty(fuzzCall(w.sb.dir), async (c) => {
          rec.starting(firstIndex + index++, describeCall(w, c));
          const f = await w.check(c);
          findings.push(...f);
          if (w.calls % 50 < 2 || f.length > 0)
            rec.note(`calls=${w.calls} findings=${findings.length} ${await health()}`);
          return f.length === 0;
        }),
        {
          // FUZZ_PATH: that one run of the seed's sequence, alone.
          numRuns: path !== undefined ? 1 : runs,
          seed,
          path,
          // The long run: stop once FUZZ_SECONDS have passed (fast-check's interrupt, not a failure).
          ...(seconds > 0 ? { interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false } : {}),
          endOnFailure: true,
        },
      );
    } catch (e) {
      error = e;
    }
    const took = Math.round((Date.now() - started) / 1000);
    const summary = `fuzz: ${w.calls} plugin calls in ${took} s, ${findings.length} findings, seed ${seed}`;
    rec.end(
      findings.length > 0
        ? `${findings.length} findings (${findings[0]?.what ?? ''}); ${summary}`
        : error !== undefined
          ? `fast-check threw: ${String(error).split('\n')[0]}; ${summary}`
          : `${seconds > 0 && took >= seconds ? 'FUZZ_SECONDS reached' : 'every run done'}; ${summary}`,
    );
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
  timeoutMs,
);
