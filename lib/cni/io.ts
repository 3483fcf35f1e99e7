/** Process IO injected into the dispatcher, so tests can run a plugin in-process. */
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
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    },
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
  };
}
