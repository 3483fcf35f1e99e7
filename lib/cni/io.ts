/** Process IO injected into the dispatcher, so tests can run a plugin in-process. */
import { rawString } from '../sys/raw-text';
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

/** More stdin than any configuration needs (10,000 port mappings are ~1 MiB): refused, not buffered. */
export const MAX_STDIN = 32 * 1024 * 1024;

/** Reads all of stdin, failing once it holds more than `max` bytes. */
export function readStdinBounded(max = MAX_STDIN, fd = 0): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(64 * 1024);
    let n: number;
    try {
      n = nodeFs().readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      // A non-blocking pipe with nothing in it yet: wait a moment without spinning.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
      continue;
    }
    if (n === 0) break;
    total += n;
    if (total > max) throw new Error(`more than ${max} bytes`);
    chunks.push(buf.subarray(0, n));
  }
  return Buffer.concat(chunks);
}

/**
 * The environment with CNI_* values as the runtime passed their bytes. The runtime decodes the
 * environment as UTF-8 and turns a byte that is not UTF-8 into U+FFFD; such a value (an
 * interface name may hold any byte) is read again from /proc/self/environ and decoded keeping its
 * bytes (lib/sys/raw-text.ts). Nothing is read when no CNI_* value has a U+FFFD.
 */
export function rawEnv(env: NodeJS.ProcessEnv = process.env): Env {
  const lossy = Object.entries(env).some(([k, v]) => k.startsWith('CNI_') && v?.includes('\ufffd'));
  if (!lossy) return env;
  let block: Buffer;
  try {
    block = nodeFs().readFileSync('/proc/self/environ');
  } catch {
    return env;
  }
  const out: Record<string, string | undefined> = { ...env };
  for (let start = 0; start < block.length;) {
    let end = block.indexOf(0, start);
    if (end < 0) end = block.length;
    const entry = block.subarray(start, end);
    start = end + 1;
    const eq = entry.indexOf(0x3d);
    if (eq <= 0) continue;
    const key = entry.subarray(0, eq).toString('latin1');
    if (key.startsWith('CNI_') && out[key]?.includes('\ufffd')) out[key] = rawString(entry.subarray(eq + 1));
  }
  return out;
}

export function processIO(): PluginIO {
  return {
    env: rawEnv(),
    readStdin: async () => readStdinBounded(),
    stdout: (t) => writeAll(1, t),
    stderr: (t) => writeAll(2, t),
  };
}
