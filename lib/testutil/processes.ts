/** Processes a test starts that must not outlive it, and namespaces held by them (test-only module). */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The PID of the first child of `pid` — with `unshare --pid --fork`, PID 1 of the new namespace,
 * which nsenter must target rather than unshare itself — polled until it appears; undefined
 * after `tries` attempts `intervalMs` apart.
 */
export async function firstChildPid(pid: number, tries: number, intervalMs: number): Promise<number | undefined> {
  for (let i = 0; i < tries; i++) {
    try {
      const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
      if (kids) return Number(kids.split(/\s+/)[0]);
    } catch {
      /* not yet */
    }
    await sleep(intervalMs);
  }
  return undefined;
}

/**
 * Spawns `argv` under setpriv's parent-death signal: it is killed when this process dies, by
 * SIGKILL too, and the signal is kept across the execs that follow (unshare, nsenter).
 */
export function spawnDyingWithUs(argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn('setpriv', ['--pdeathsig', 'KILL', ...argv], opts);
}

/** A PID namespace held by `argv` as its PID 1. */
export interface PidNamespace {
  /** unshare, ours to end by its PID (PID 1 goes with it). */
  readonly unshare: ChildProcess;
  /** PID 1 of the namespace, as this process sees it: the one nsenter targets. */
  readonly init: number;
}

/**
 * Starts `argv` as PID 1 of new PID and mount namespaces (private propagation, its own /proc)
 * and, with `net`, a network namespace. unshare dies with this process (spawnDyingWithUs), and PID 1,
 * so everything in the namespace, with unshare (--kill-child): a test process killed before its
 * cleanup leaves nothing running. Resolves once PID 1 exists (not once it has exec'd argv).
 */
export async function startPidNamespace(
  argv: readonly string[],
  opts: { net?: boolean; env?: NodeJS.ProcessEnv; waitMs?: number } = {},
): Promise<PidNamespace> {
  const flags = ['--mount', ...(opts.net ? ['--net'] : []), '--pid', '--fork', '--kill-child'];
  const unshare = spawnDyingWithUs(['unshare', ...flags, '--propagation', 'private', '--mount-proc', ...argv], {
    stdio: 'ignore',
    env: opts.env ?? process.env,
  });
  const init = unshare.pid ? await firstChildPid(unshare.pid, Math.ceil((opts.waitMs ?? 2000) / 20), 20) : undefined;
  if (!init) {
    unshare.kill('SIGKILL');
    throw new Error(`${argv[0] ?? 'PID 1'}: the PID namespace did not start`);
  }
  return { unshare, init };
}
