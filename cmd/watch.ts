/**
 * The running `tscni reload --watch`: the watcher loop (lib/reload/watch.ts) with the host's wake sources,
 * a reload pass as its work and, when asked, `tscni gc` on an interval (here, above both
 * lib/reload and lib/gc, since gc reads reload's sources). Each pass prints one line
 * per concern it changed or could not check (intact ones are not listed) and a summary with its
 * duration and the number of programs it started (a pass that finds everything intact starts
 * only the readings of lib/firewall/snapshot.ts); SIGTERM and SIGINT end it. With `--iptables auto`
 * (the installer image), the node's iptables mode is looked for before each pass until one is
 * found (cmd/iptables.ts).
 */
import type { Runner } from '../lib/exec/runner';
import type { GcOptions } from '../lib/gc/gc';
import { writeAll } from '../lib/stdio';
import { reload, type ReloadOptions } from '../lib/reload/reload';
import { firewalldSource, nftablesSource } from '../lib/reload/wake-sources';
import { Watcher, type WakeName } from '../lib/reload/watch';
import { useNodeIptables } from './iptables';

export interface WatchMainOptions {
  /** Options of each pass (dryRun is ignored: a watcher restores). */
  readonly reload: ReloadOptions;
  readonly intervalMs: number;
  readonly gcIntervalMs: number;
  readonly quietMs: number;
  readonly maxDelayMs: number;
  /** Which wake sources to listen to (both by default). */
  readonly wake: ReadonlyArray<WakeName>;
  /** What gc gets on its interval (with gcIntervalMs > 0). */
  readonly gc?: GcOptions;
  /** `--iptables auto`: find the node's iptables mode before a pass, until it is found. */
  readonly iptablesAuto?: boolean;
}

const stamp = (): string => new Date().toISOString();
const say = (line: string): void => writeAll(2, `${stamp()} tscni reload --watch: ${line}\n`);

export async function watchMain(o: WatchMainOptions): Promise<void> {
  let iptablesPending = o.iptablesAuto ?? false;
  let lastWhy = '';
  const findIptables = async (): Promise<void> => {
    const d = await useNodeIptables(o.reload.runner);
    if (d.mode) {
      iptablesPending = false;
      say(`iptables: iptables-${d.mode} (${d.why})`);
    } else if (d.why !== lastWhy) {
      say(`iptables: left out for now (${d.why}); looked for again before each pass`);
    }
    lastWhy = d.why;
  };
  // Every program a pass starts goes through this runner: the summary says how many it took.
  let programs = 0;
  const runner: Runner = {
    run: (cmd) => {
      programs++;
      return o.reload.runner.run(cmd);
    },
  };
  const pass = async (reasons: readonly string[]): Promise<void> => {
    const t0 = Date.now();
    if (iptablesPending) await findIptables();
    const started = programs;
    const outcomes = await reload({ ...o.reload, runner, dryRun: false });
    const count = new Map<string, number>();
    for (const x of outcomes) {
      count.set(x.state, (count.get(x.state) ?? 0) + 1);
      if (x.state !== 'intact')
        writeAll(1, `${stamp()} ${x.state.padEnd(8)} ${x.subject} ${x.what}${x.detail ? `: ${x.detail}` : ''}\n`);
    }
    const summary = ['restored', 'intact', 'gone', 'skipped', 'failed'].map((s) => `${count.get(s) ?? 0} ${s}`);
    say(
      `pass for ${reasons.join(', ')}: ${summary.join(', ')} (${Date.now() - t0} ms, ${programs - started} programs)`,
    );
  };
  const gcOpts = o.gc;
  const runGc = gcOpts
    ? async (): Promise<void> => {
        const { gc } = await import('../lib/gc/gc');
        const outcomes = await gc(gcOpts);
        for (const x of outcomes)
          if (x.state !== 'kept') writeAll(1, `${stamp()} gc ${x.state.padEnd(9)} ${x.subject}: ${x.detail}\n`);
        say(`gc: ${outcomes.filter((x) => x.state === 'collected').length} collected`);
      }
    : undefined;
  const w = new Watcher({
    sources: o.wake.map((n) => (n === 'nftables' ? nftablesSource() : firewalldSource(o.reload.env))),
    pass,
    ...(runGc ? { gc: runGc } : {}),
    quietMs: o.quietMs,
    maxDelayMs: o.maxDelayMs,
    intervalMs: o.intervalMs,
    gcIntervalMs: o.gcIntervalMs,
    log: say,
  });
  const done = new Promise<void>((resolve) => {
    const end = (sig: string): void => {
      say(`${sig}: stopping`);
      w.stop();
      resolve();
    };
    process.once('SIGTERM', () => end('SIGTERM'));
    process.once('SIGINT', () => end('SIGINT'));
  });
  await w.start();
  const listening = w.listening();
  say(
    `watching ${listening.length ? listening.join(' and ') : 'nothing but the clock'}; ` +
      `full check every ${o.intervalMs > 0 ? `${o.intervalMs / 1000} s` : 'never'}; ` +
      `gc ${o.gcIntervalMs > 0 && runGc ? `every ${o.gcIntervalMs / 1000} s` : 'off'}`,
  );
  await done;
  await w.idle;
  // A blocking read on the notice socket keeps a thread busy: leave without waiting for it.
  process.exit(0);
}
