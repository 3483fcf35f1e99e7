/**
 * stderr logging. stdout is the CNI result channel, so nothing in tscni writes there except
 * the dispatcher's printer. Logging is quiet unless TSCNI_DEBUG is set or it is a warning.
 */
import { writeAll } from './stdio';

let sink: (line: string) => void = (line) => writeAll(2, line + '\n');
export const debugOn = (): boolean => !!process.env['TSCNI_DEBUG'];

export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}
export function warn(msg: string): void {
  sink(`tscni: ${msg}`);
}
/**
 * Debug lines carry the time since the process started, so a slow phase shows as a gap, and the
 * CPU time the process has used by then (user + system, all its threads; children not included),
 * which a loaded machine does not stretch.
 */
export function debug(msg: string): void {
  if (!debugOn()) return;
  const cpu = process.cpuUsage();
  sink(
    `tscni debug: +${Math.round(performance.now())} ms cpu ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms ${msg}`,
  );
}

/** Runs a step whose failure is tolerable; says so on stderr instead of swallowing it. */
export async function bestEffort<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    warn(`${what} failed (ignored): ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}
