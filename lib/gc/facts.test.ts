/** Facts from a made-up /proc: running plugin calls by their environment, the boot time; namespace paths. */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addressKey, bootTime, isNamedNamespacePath, isNamespace, namespacesInUse, runningPluginCalls } from './facts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function proc(procs: Record<string, string[]>): string {
  const d = mkdtempSync(join(tmpdir(), 'tscni-proc-'));
  dirs.push(d);
  for (const [pid, env] of Object.entries(procs)) {
    mkdirSync(join(d, pid));
    writeFileSync(join(d, pid, 'environ'), env.join('\0') + '\0');
  }
  writeFileSync(join(d, 'stat'), 'cpu  1 2 3\nbtime 1700000000\nprocesses 5\n');
  mkdirSync(join(d, 'sys'));
  return d;
}

describe('gc facts', () => {
  it('runningPluginCalls: processes with CNI_COMMAND and CNI_CONTAINERID', () => {
    const d = proc({
      '10': ['PATH=/bin', 'CNI_COMMAND=ADD', 'CNI_CONTAINERID=abc', 'CNI_IFNAME=eth0'],
      '11': ['CNI_CONTAINERID=only-id'],
      '12': ['CNI_COMMAND=DEL', 'CNI_CONTAINERID=def'],
      '13': ['HOME=/root'],
    });
    expect([...runningPluginCalls(d)].sort()).toEqual(['abc', 'def']);
  });

  it('bootTime from btime', () => {
    expect(bootTime(proc({}))).toBe(1_700_000_000_000);
  });

  it('isNamespace: a plain file or a missing path is not one', () => {
    const d = proc({});
    expect(isNamespace(join(d, 'stat'))).toBe(false);
    expect(isNamespace(join(d, 'nope'))).toBe(false);
  });

  it('isNamedNamespacePath: a file right in /run/netns or /var/run/netns, never a /proc path', () => {
    expect(isNamedNamespacePath('/run/netns/cni-1234')).toBe(true);
    expect(isNamedNamespacePath('/var/run/netns/cni-1234')).toBe(true);
    expect(isNamedNamespacePath('/proc/42/ns/net')).toBe(false);
    expect(isNamedNamespacePath('/run/netns/a/b')).toBe(false);
    expect(isNamedNamespacePath('/run/netnsx/a')).toBe(false);
  });

  it('namespacesInUse: this process is in its own namespace', () => {
    expect(namespacesInUse().size).toBeGreaterThan(0);
    expect(namespacesInUse(proc({ '10': [] })).size).toBe(0); // no ns/net files there
  });

  it('addressKey normalises the address text', () => {
    expect(addressKey('fd00:0:0::2', 'eth0')).toBe('fd00::2|eth0');
  });
});
