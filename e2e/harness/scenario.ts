/**
 * Runs one e2e scenario in its own sandbox: on failure the error carries the plugin-call trace and
 * the runtime's log; afterwards a report (calls, timings) is written to build/e2e/reports/.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../lib/testutil/sandbox';
import { RuntimeSandbox } from './sandbox';
import { formatTrace, TraceEntry } from './trace';

/** Every scenario runs once per version. */
export const CNI_VERSIONS = ['1.0.0', '0.4.0'] as const;
export type CniVersion = (typeof CNI_VERSIONS)[number];

export const E2E_BUILD_DIR = join(REPO_ROOT, 'build', 'e2e');
export const EXAMPLES_DIR = join(REPO_ROOT, 'examples', 'e2e');
const REPORT_DIR = join(E2E_BUILD_DIR, 'reports');

/** An example config of examples/e2e with its cniVersion set to `version`. */
export function conflist(name: string, version: string): string {
  const raw: unknown = JSON.parse(readFileSync(join(EXAMPLES_DIR, name), 'utf8'));
  if (typeof raw !== 'object' || raw === null) throw new Error(`${name}: not a JSON object`);
  return JSON.stringify({ ...raw, cniVersion: version }, null, 2);
}

/** A template of examples/e2e with @KEY@ placeholders filled in. */
export function template(name: string, values: Record<string, string>): string {
  let text = readFileSync(join(EXAMPLES_DIR, name), 'utf8');
  for (const [k, v] of Object.entries(values)) text = text.split(`@${k}@`).join(v);
  const missing = /@[A-Z_]+@/.exec(text);
  if (missing) throw new Error(`${name}: no value for ${missing[0]}`);
  return text;
}

export interface ScenarioReport {
  tag: string;
  ok: boolean;
  ms: number;
  steps: { step: string; ms: number }[];
  calls: {
    plugin: string;
    command: string;
    cniVersion: string;
    rc: number | undefined;
    containerId: string;
    netns: string | undefined;
    ifName: string;
    args: string;
    path: string;
    runtimeConfig: unknown;
    capabilityEnv: Record<string, string>;
  }[];
  error?: string;
}

export class Steps {
  private last = Date.now();
  readonly list: { step: string; ms: number }[] = [];
  mark(step: string): void {
    const now = Date.now();
    this.list.push({ step, ms: now - this.last });
    this.last = now;
  }
}

/** A scenario's own deadline, below jest's per-test timeout, so that a hung runtime still gets its sandbox destroyed. */
export const SCENARIO_TIMEOUT_MS = 150_000;
export const JEST_TIMEOUT_MS = SCENARIO_TIMEOUT_MS + 30_000;

/** Creates a sandbox, runs `body`, destroys the sandbox; a failure's message gets the trace and logs. */
export async function scenario(tag: string, body: (sb: RuntimeSandbox, steps: Steps) => Promise<void>): Promise<void> {
  const t0 = Date.now();
  const steps = new Steps();
  const sb = await RuntimeSandbox.create(tag);
  steps.mark('sandbox');
  let error: unknown;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`scenario timed out after ${SCENARIO_TIMEOUT_MS} ms`)), SCENARIO_TIMEOUT_MS);
  });
  try {
    await Promise.race([body(sb, steps), deadline]);
  } catch (e) {
    error = e;
  } finally {
    clearTimeout(timer);
  }
  const trace = sb.trace();
  try {
    if (error !== undefined) {
      const msg = error instanceof Error ? (error.stack ?? error.message) : String(error);
      error = new Error(`[${tag}] ${msg}\n\n--- plugin calls ---\n${formatTrace(trace)}\n${sb.daemonLogs()}`);
    }
  } finally {
    await sb.destroy();
    steps.mark('teardown');
    writeReport({
      tag,
      ok: error === undefined,
      ms: Date.now() - t0,
      steps: steps.list,
      calls: trace.map(reportCall),
      error: error instanceof Error ? error.message : undefined,
    });
  }
  if (error !== undefined) throw error;
}

function reportCall(e: TraceEntry): ScenarioReport['calls'][number] {
  // Environment a runtime adds beyond CNI_*: only the names and values that say something about it.
  const capabilityEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.env)) if (k.startsWith('CNI_') && k !== 'CNI_COMMAND') capabilityEnv[k] = v;
  return {
    plugin: e.plugin,
    command: e.command,
    cniVersion: e.cniVersion,
    rc: e.rc,
    containerId: e.containerId,
    netns: e.netns,
    ifName: e.ifName,
    args: e.args,
    path: e.path,
    runtimeConfig: e.config?.['runtimeConfig'],
    capabilityEnv,
  };
}

function writeReport(r: ScenarioReport): void {
  mkdirSync(REPORT_DIR, { recursive: true });
  writeFileSync(join(REPORT_DIR, `${r.tag}.json`), JSON.stringify(r, null, 2));
}

/** Fails when a plugin call exited non-zero (the exceptions a scenario expects are passed in). */
export function expectAllCallsOk(trace: readonly TraceEntry[], allow: (e: TraceEntry) => boolean = () => false): void {
  const bad = trace.filter((e) => e.rc !== 0 && !allow(e));
  if (bad.length) {
    throw new Error(
      `plugin calls failed:\n${bad.map((e) => `${e.plugin} ${e.command} rc=${e.rc}: ${e.stdout.trim()} ${e.stderr.trim()}`).join('\n')}`,
    );
  }
}

/** Fails unless every call that carried a config carried `version` (VERSION probes may differ). */
export function expectVersion(trace: readonly TraceEntry[], version: string, plugins: readonly string[]): void {
  const wrong = trace.filter((e) => plugins.includes(e.plugin) && e.command !== 'VERSION' && e.cniVersion !== version);
  if (wrong.length) {
    throw new Error(`calls without cniVersion ${version}:\n${formatTrace(wrong)}`);
  }
}
