/** Process IO injected into the dispatcher, so tests can run a plugin in-process. */
import { writeAll } from '../stdio';
import { nodeFs } from '../sys/fs';

export type Env = Readonly<Record<string, string | undefined>>;

export interface PluginIO {
  readonly env: Env;
  /** Reads all of stdin (called at most once, never for VERSION). */
  readonly readStdin: () => Promise<Buffer>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export function processIO(): PluginIO {
  return {
    env: process.env,
    readStdin: async () => nodeFs().readFileSync(0),
    stdout: (t) => writeAll(1, t),
    stderr: (t) => writeAll(2, t),
  };
}
