/**
 * What this kernel can do, probed once per test process in a throwaway namespace (test-only
 * module). Tests of link types a kernel may lack (802.1Q vlan, ipvlan, dummy, VRF) run where the probe
 * succeeds and say why they did not run elsewhere.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { SandboxLock } from './sandbox-lock';

export type ProbedKind = 'vlan' | 'ipvlan' | 'macvlan' | 'dummy' | 'vrf';
const cache = new Map<ProbedKind, boolean>();

const ip = (...args: string[]): number => spawnSync('ip', args, { stdio: 'ignore' }).status ?? -1;

const PROBES: Readonly<Record<ProbedKind, readonly string[]>> = {
  vlan: ['link', 'p0', 'name', 'probe0', 'type', 'vlan', 'id', '5'],
  ipvlan: ['link', 'p0', 'name', 'probe0', 'type', 'ipvlan', 'mode', 'l2'],
  macvlan: ['link', 'p0', 'name', 'probe0', 'type', 'macvlan', 'mode', 'bridge'],
  dummy: ['name', 'probe0', 'type', 'dummy'],
  vrf: ['name', 'probe0', 'type', 'vrf', 'table', '10'],
};

/** True when `ip link add ... type <kind>` works here (checked on a veth in a private namespace). */
export function kernelHasLinkKind(kind: ProbedKind): boolean {
  const known = cache.get(kind);
  if (known !== undefined) return known;
  // Locked like a sandbox's, so that a process killed mid-probe leaves nothing for long.
  const lock = SandboxLock.take(`tscni-t-${process.pid}-${randomBytes(3).toString('hex')}-probe`);
  const ns = `${lock.name}-ns`;
  let ok = false;
  try {
    if (ip('netns', 'add', ns) === 0) {
      try {
        ip('-n', ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1');
        ok = ip('-n', ns, 'link', 'add', ...PROBES[kind]) === 0;
      } finally {
        ip('netns', 'del', ns);
      }
    }
  } finally {
    if (existsSync(`/run/netns/${ns}`)) lock.abandon();
    else lock.release();
  }
  cache.set(kind, ok);
  return ok;
}

/** A note for test names: empty where the kernel has `kind`, else why the test is skipped. */
export const skipNote = (kind: ProbedKind): string =>
  kernelHasLinkKind(kind) ? '' : ` [skipped: this kernel has no ${kind} links]`;
