import { debug, debugOn, warn } from '../log';
import { nodeFs } from '../sys/fs';
import { setSafeFsWarner, setSysTracer } from '../sys/fs-errors';
import { dispatch, type DispatchOptions } from './dispatch';
import { processIO } from './io';
import type { PluginEntry } from './plugin';

/** Runs one plugin call with the real process IO; sets the exit code without process.exit. */
export async function pluginMain(plugin: PluginEntry, options: DispatchOptions = {}): Promise<void> {
  debug('started');
  setSafeFsWarner(warn);
  if (debugOn()) setSysTracer(debug);
  const io = processIO();
  try {
    process.exitCode = await dispatch(plugin, io, options);
    debug(`done, exit code ${process.exitCode}; ${memoryLine()}`);
  } catch (e: unknown) {
    io.stdout(JSON.stringify({ code: 999, msg: String(e) }, null, 4));
    process.exitCode = 1;
  }
}

/** Resident memory as the kernel counts it, and open descriptors (for the debug log only). */
function memoryLine(): string {
  if (!debugOn()) return '';
  const { readdirSync, readFileSync } = nodeFs();
  const status = readFileSync('/proc/self/status', 'utf8');
  const mem = ['VmHWM', 'RssAnon', 'RssFile']
    .map((k) => new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1])
    .map((v, i) => `${['peak', 'anon', 'file'][i]} ${Math.round(Number(v) / 1024)} MiB`);
  // The listing's own descriptor is counted too.
  return [...mem, `fds ${readdirSync('/proc/self/fd').length}`].join(', ');
}
