/**
 * Asking the container runtimes which containers exist, for `tscni gc`: CRI runtimes over their
 * socket (ListPodSandbox: a sandbox's ID is the CNI container ID), and podman through its
 * command line (`podman ps --all`: a container's full ID is podman's CNI container ID). A
 * runtime that is not there or does not answer is left out; gc then judges its attachments from
 * what is on disk.
 */
import { existsSync } from 'node:fs';
import type { Runner } from '../exec/runner';
import { debug } from '../log';
import { criOwns, podmanOwns, type RuntimeAnswer } from './judge';

/** Where CRI runtimes listen by default (containerd, CRI-O). */
export const DEFAULT_CRI_SOCKETS = ['/run/containerd/containerd.sock', '/run/crio/crio.sock'];

/** `unix:///path` (crictl's form) or a plain path. */
export function criSocketPath(endpoint: string): string {
  return endpoint.startsWith('unix://') ? endpoint.slice('unix://'.length) : endpoint;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The CRI runtimes among `sockets` that answer; each owns the attachments CRI made. */
export async function askCri(sockets: readonly string[], log: (l: string) => void): Promise<RuntimeAnswer[]> {
  const out: RuntimeAnswer[] = [];
  for (const s of sockets) {
    if (!existsSync(s)) continue;
    try {
      const { listPodSandboxes } = await import('../cri/client');
      const ids = new Set((await listPodSandboxes(s)).map((p) => p.id));
      out.push({ name: `CRI (${s})`, ids, owns: criOwns });
    } catch (e) {
      log(`CRI runtime at ${s} did not answer (${message(e)}): its pods are judged from what is on disk`);
    }
  }
  return out;
}

/** podman, when its program is found and answers. */
export async function askPodman(runner: Runner, log: (l: string) => void): Promise<RuntimeAnswer | undefined> {
  try {
    const r = await runner.run({
      tool: 'podman',
      argv: ['ps', '--all', '--no-trunc', '--format', '{{.ID}}'],
      allowFailure: true,
      timeoutMs: 30_000,
    });
    if (r.exitCode !== 0) {
      log(`podman did not answer (exit code ${r.exitCode}): its containers are judged from what is on disk`);
      return undefined;
    }
    const ids = new Set(
      r.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => /^[0-9a-f]{64}$/.test(l)),
    );
    return { name: 'podman', ids, owns: podmanOwns };
  } catch (e) {
    debug(`podman not asked: ${message(e)}`);
    return undefined;
  }
}
