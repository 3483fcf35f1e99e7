/**
 * Which firewall backend to use when the config does not say: iptables if it is usable, else
 * nftables if it is usable (the reference's rule for ipMasq and portmap). Probed once per process
 * and cached, and only when needed: `withBackend` tries iptables first and asks the question only
 * if that fails, which saves an exec on every call of a host where iptables works.
 */
import type { Family } from '../addr/ip';
import { concurrently } from '../async';
import type { Runner } from '../exec/runner';
import type { Finding } from './snapshot';

export type Backend = 'iptables' | 'nftables';
export const BACKENDS: readonly Backend[] = ['iptables', 'nftables'];

export const isBackend = (s: string): s is Backend => s === 'iptables' || s === 'nftables';

const cache = new Map<string, Promise<boolean>>();

function probe(key: string, fn: () => Promise<boolean>): Promise<boolean> {
  let p = cache.get(key);
  if (!p) {
    p = fn().catch(() => false);
    cache.set(key, p);
  }
  return p;
}

/** `iptables -t filter -S INPUT 1` works (the reference's SupportsIPTables). */
export function iptablesUsable(runner: Runner, family: Family = 4): Promise<boolean> {
  const tool = family === 4 ? 'iptables' : 'ip6tables';
  return probe(
    tool,
    async () =>
      (
        await runner.run({
          tool,
          argv: ['-w', '5', '-t', 'filter', '-S', 'INPUT', '1'],
          allowFailure: true,
          timeoutMs: 10_000,
        })
      ).exitCode === 0,
  );
}

/** `nft list tables` works: the binary exists and we may talk to the kernel. */
export function nftablesUsable(runner: Runner): Promise<boolean> {
  return probe(
    'nft',
    async () =>
      (await runner.run({ tool: 'nft', argv: ['list', 'tables'], allowFailure: true, timeoutMs: 10_000 })).exitCode ===
      0,
  );
}

export function backendUsable(backend: Backend, runner: Runner): Promise<boolean> {
  return backend === 'iptables' ? iptablesUsable(runner) : nftablesUsable(runner);
}

export async function defaultBackend(runner: Runner): Promise<Backend> {
  if (await iptablesUsable(runner)) return 'iptables';
  if (await nftablesUsable(runner)) return 'nftables';
  return 'iptables';
}

/**
 * Runs `run` with the configured backend or, when none is configured, with the reference's
 * default decided lazily: iptables is tried first; on failure the probe decides between reporting
 * that failure (iptables is usable) and running again with nftables, after `undoIptables` has
 * removed whatever the failed attempt left.
 */
export async function withBackend(
  configured: Backend | undefined,
  run: (b: Backend) => Promise<void>,
  undoIptables: () => Promise<unknown>,
  runner: Runner,
): Promise<void> {
  if (configured) return run(configured);
  try {
    await run('iptables');
  } catch (e) {
    if ((await defaultBackend(runner)) !== 'nftables') throw e;
    await undoIptables().catch(() => undefined);
    await run('nftables');
  }
}

/**
 * Runs `fn` for every backend in `backends` at once. A backend that fails where it is not usable
 * (its tool is missing, or the kernel refuses it) has nothing to act on and gives undefined; a
 * failure where the backend is usable is reported.
 */
export function eachBackend<T>(
  runner: Runner,
  fn: (b: Backend) => Promise<T>,
  backends: readonly Backend[] = BACKENDS,
): Promise<Array<T | undefined>> {
  return concurrently(
    ...backends.map(async (b): Promise<T | undefined> => {
      try {
        return await fn(b);
      } catch (e) {
        if (await backendUsable(b, runner)) throw e;
        return undefined;
      }
    }),
  );
}

/** For tests: forget probe results. */
/**
 * What a check in the configured backend would conclude, with `inspect` (a judgement on a reload
 * pass's snapshot) in its place: the configured backend, or iptables first and nftables where
 * iptables' finding is not intact and iptables turns out to be unusable (as withBackend picks).
 */
export async function inspectInBackends(
  configured: Backend | undefined,
  runner: Runner,
  inspect: (b: Backend) => Promise<Finding>,
): Promise<Finding> {
  if (configured) return inspect(configured);
  const f = await inspect('iptables');
  if (f.state === 'intact' || (await defaultBackend(runner)) !== 'nftables') return f;
  return inspect('nftables');
}

export function resetBackendProbes(): void {
  cache.clear();
}
