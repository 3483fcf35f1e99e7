import { debug } from '../log';
import { dispatch, type DispatchOptions } from './dispatch';
import { processIO } from './io';
import type { PluginEntry } from './plugin';

/** Runs one plugin call with the real process IO; sets the exit code without process.exit. */
export async function pluginMain(plugin: PluginEntry, options: DispatchOptions = {}): Promise<void> {
  debug('started');
  const io = processIO();
  try {
    process.exitCode = await dispatch(plugin, io, options);
    debug(`done, exit code ${process.exitCode}`);
  } catch (e: unknown) {
    io.stdout(JSON.stringify({ code: 999, msg: String(e) }, null, 4));
    process.exitCode = 1;
  }
}
