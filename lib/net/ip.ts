/**
 * iproute2 access: batches and JSON reads, in this process's namespace or inside another one
 * (via nsenter with the namespace path as an argument). Every step of a plugin is meant to be
 * one batch, so a verb costs a handful of execs whatever the number of links and addresses.
 */
import { randomBytes } from '../sys/hash';
import { defaultRunner } from '../exec/real';
import type { ExecResult } from '../exec/runner';

/** Runs `ip -batch -` with `lines`, in this namespace or in the namespace at `netns`. */
export async function ipBatch(lines: readonly string[], netns?: string): Promise<void> {
  if (lines.length === 0) return;
  const input = lines.join('\n') + '\n';
  await defaultRunner().run(
    netns
      ? { tool: 'nsenter', argv: [`--net=${netns}`, '--', 'ip', '-batch', '-'], input }
      : { tool: 'ip', argv: ['-batch', '-'], input },
  );
}

/** Runs one ip command with -j; returns the parsed array, or undefined if the command failed. */
export async function ipJson(
  args: readonly string[],
  netns?: string,
): Promise<Array<Record<string, unknown>> | undefined> {
  const argv = ['-j', ...args];
  const res: ExecResult = await defaultRunner().run(
    netns
      ? { tool: 'nsenter', argv: [`--net=${netns}`, '--', 'ip', ...argv], allowFailure: true }
      : { tool: 'ip', argv, allowFailure: true },
  );
  if (res.exitCode !== 0) return undefined;
  const parsed: unknown = JSON.parse(res.stdout || '[]');
  return Array.isArray(parsed) ? (parsed as Array<Record<string, unknown>>) : undefined;
}

/** Runs one ip command, tolerating failure; returns its exit code and stderr. */
export async function ipTry(args: readonly string[], netns?: string): Promise<ExecResult> {
  return defaultRunner().run(
    netns
      ? { tool: 'nsenter', argv: [`--net=${netns}`, '--', 'ip', ...args], allowFailure: true }
      : { tool: 'ip', argv: args, allowFailure: true },
  );
}

/** A random locally administered unicast MAC (what the kernel would pick for a veth). */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** `veth` + 8 random hex digits, as the reference names host-side veths. */
export const randomVethName = (): string => `veth${randomBytes(4).toString('hex')}`;

const MAC_RE = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;
export function normalizeMac(mac: string): string | undefined {
  return MAC_RE.test(mac) ? mac.toLowerCase() : undefined;
}
