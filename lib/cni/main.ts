import { debug } from '../log';
import { dispatch, type PluginFuncs } from './dispatch';
import { processIO } from './io';

/** Entry point for a plugin executable: real process IO, exit code set without process.exit. */
export function pluginMain(funcs: PluginFuncs, about: string): void {
  debug('loaded');
  process.on('exit', () => debug('exit'));
  dispatch(funcs, about, processIO()).then(
    (code) => {
      process.exitCode = code;
      debug(`done, exit code ${code}`);
    },
    (e: unknown) => {
      process.stdout.write(JSON.stringify({ code: 999, msg: String(e) }, null, 4));
      process.exitCode = 1;
    },
  );
}
