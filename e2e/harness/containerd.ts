/** containerd started inside a sandbox, with the busybox image imported. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RunResult } from '../../lib/testutil/sandbox';
import { buildBusyboxImage } from './image';
import { RuntimeSandbox } from './sandbox';
import { template } from './scenario';
import { requirePrograms } from '../../lib/testutil/programs';

export interface Containerd {
  readonly socket: string;
  /** Runs `ctr` against this containerd in the sandbox (namespace `ns`). */
  ctr(args: readonly string[], ns?: string, timeoutMs?: number): Promise<RunResult>;
  ctrOk(args: readonly string[], ns?: string, timeoutMs?: number): Promise<RunResult>;
  /** `ctr` argv (for a daemon). */
  ctrArgv(args: readonly string[], ns?: string): string[];
}

/** Writes the config from examples/e2e/<configName>, starts containerd and imports the image into `namespaces`. */
export async function startContainerd(
  sb: RuntimeSandbox,
  configName: string,
  namespaces: readonly string[],
): Promise<Containerd> {
  const socket = join(sb.dir, 'containerd.sock');
  const config = join(sb.dir, 'containerd.toml');
  writeFileSync(config, template(configName, { SOCKET: socket }));
  const image = await buildBusyboxImage(join(sb.dir, 'image'));
  requirePrograms('containerd', 'ctr', 'runc');
  sb.startDaemon('containerd', ['containerd', '--config', config, '--log-level', 'info']);

  const ctrArgv = (args: readonly string[], ns = 'default'): string[] => ['ctr', '-a', socket, '-n', ns, ...args];
  const ctr = (args: readonly string[], ns = 'default', timeoutMs = 60_000): Promise<RunResult> =>
    sb.exec(ctrArgv(args, ns), { timeoutMs });
  const ctrOk = async (args: readonly string[], ns = 'default', timeoutMs = 60_000): Promise<RunResult> => {
    const r = await ctr(args, ns, timeoutMs);
    if (r.code !== 0) throw new Error(`ctr ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r;
  };
  await sb.waitFor('containerd to serve', async () => (await ctr(['version'])).code === 0);
  for (const ns of namespaces) await ctrOk(['images', 'import', image], ns);
  return { socket, ctr, ctrOk, ctrArgv };
}
