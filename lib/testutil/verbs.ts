/**
 * Runs a plugin's verb functions in-process through the real dispatcher (test-only): env and
 * stdin in, the printed JSON and exit code out. Verbs get the Runner the test passes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dispatch } from '../cni/dispatch';
import type { Invocation } from '../cni/invocation';
import type { PluginFuncs } from '../cni/plugin';
import type { Result } from '../cni/result/types';
import type { Runner } from '../exec/runner';

export interface VerbModules {
  add?: (inv: Invocation, runner: Runner) => Promise<Result>;
  del?: (inv: Invocation, runner: Runner) => Promise<void>;
  check?: (inv: Invocation, runner: Runner) => Promise<void>;
  gc?: (inv: Invocation, runner: Runner) => Promise<void>;
  status?: (inv: Invocation, runner: Runner) => Promise<void>;
}

export interface VerbOutput {
  readonly code: number;
  readonly json: Record<string, unknown>;
  readonly stderr: string;
}

/** Binds every verb to `runner`. */
export function withRunner(verbs: VerbModules, runner: Runner): PluginFuncs {
  const { add, del, check, gc, status } = verbs;
  const out: PluginFuncs = {};
  if (add) out.add = (inv) => add(inv, runner);
  if (del) out.del = (inv) => del(inv, runner);
  if (check) out.check = (inv) => check(inv, runner);
  if (gc) out.gc = (inv) => gc(inv, runner);
  if (status) out.status = (inv) => status(inv, runner);
  return out;
}

export async function callVerb(
  funcs: PluginFuncs,
  command: string,
  conf: object,
  opts: { id?: string; ifname?: string; netns?: string; env?: Record<string, string> } = {},
): Promise<VerbOutput> {
  let stdout = '';
  let stderr = '';
  const runDir = mkdtempSync(join(tmpdir(), 'tscni-unit-run-'));
  const env: Record<string, string> = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: opts.id ?? 'c1',
    CNI_NETNS: opts.netns ?? '/nonexistent/netns',
    CNI_IFNAME: opts.ifname ?? 'eth0',
    CNI_PATH: '/nonexistent',
    // Teardown marks of in-process DELs go to a directory of this call, not /run/tscni.
    TSCNI_RUN_DIR: runDir,
    ...opts.env,
  };
  let code: number;
  try {
    code = await dispatch(
      { about: 'test', load: async () => funcs },
      {
        env,
        readStdin: async () => Buffer.from(JSON.stringify(conf)),
        stdout: (t) => void (stdout += t),
        stderr: (t) => void (stderr += t),
      },
    );
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
  return { code, json: stdout ? (JSON.parse(stdout) as Record<string, unknown>) : {}, stderr };
}
