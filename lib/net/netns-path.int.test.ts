/**
 * CNI_NETNS naming something that is not a network namespace (issue 20 row 6): a FIFO (an open
 * of it blocked forever, and the lease taken before stayed once the runtime killed the call), a
 * regular file, a directory, a device, a mount namespace's file. Every plugin that works in the
 * container refuses it at once, naming the path as the reference does, before allocating
 * anything; DEL cleans up what it can and succeeds. The reference 1.1.1 runs beside it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../testutil/sandbox';
import { addUnderlay } from '../testutil/underlay';
import { requireProgram } from '../testutil/programs';

let sb: Sandbox;
const paths: Record<string, string> = {};
beforeAll(async () => {
  sb = await Sandbox.create('nsp');
  await addUnderlay(sb, { master: 'phys0', outside: 'out', subnet: '192.168.62' });
  const d = join(sb.dir, 'not-netns');
  mkdirSync(d);
  execFileSync(requireProgram('mkfifo'), [join(d, 'fifo')]);
  writeFileSync(join(d, 'file'), 'x');
  mkdirSync(join(d, 'dir'));
  symlinkSync(join(d, 'fifo'), join(d, 'link-to-fifo'));
  Object.assign(paths, {
    fifo: join(d, 'fifo'),
    'regular file': join(d, 'file'),
    directory: join(d, 'dir'),
    'link to a FIFO': join(d, 'link-to-fifo'),
    'character device': '/dev/null',
    'mount namespace': '/proc/self/ns/mnt',
  });
});
afterAll(async () => sb.destroy());

const conf = (type: string, store: string): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'nsnet',
  type,
  bridge: 'nsbr0',
  master: 'phys0',
  ipam: { type: 'host-local', subnet: '10.63.0.0/24', dataDir: join(sb.dir, store) },
});
/** Each plugin's smallest config that gets as far as the container (sbr and tuning are chained, host-device moves phys0). */
function configOf(type: string, store: string): Record<string, unknown> {
  const chained = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0' }],
    ips: [{ interface: 0, address: '10.63.1.2/24', gateway: '10.63.1.1' }],
  };
  if (type === 'loopback') return { cniVersion: '1.0.0', name: 'nsnet', type };
  if (type === 'tuning' || type === 'sbr') return { cniVersion: '1.0.0', name: 'nsnet', type, prevResult: chained };
  if (type === 'host-device') return { ...conf(type, store), device: 'phys0', dataDir: join(sb.dir, 'hd') };
  return conf(type, store);
}
const call = (dir: string, type: string, command: string, netns: string, store: string): Promise<RunResult> =>
  sb.runPlugin(
    join(dir, type),
    { command, containerId: 'ctr-ns', netns, ifName: 'eth0', path: dir },
    configOf(type, store),
  );
const leases = (store: string): string[] => {
  const d = join(sb.dir, store, 'nsnet');
  return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
};

describe.each(['bridge', 'ptp', 'macvlan', 'ipvlan', 'host-device', 'loopback', 'tuning', 'sbr'])('%s', (type) => {
  it('ADD refuses each path at once, naming it, with no lease taken; DEL succeeds', async () => {
    for (const [what, path] of Object.entries(paths)) {
      const r = await call(BIN_DIR, type, 'ADD', path, 'ours');
      const e = r.json as { code: number; msg: string };
      expect({ what, code: e.code, named: e.msg.startsWith(`failed to open netns ${JSON.stringify(path)}: `) }).toEqual(
        {
          what,
          code: 999,
          named: true,
        },
      );
      expect(leases('ours')).toEqual([]);
      const d = await call(BIN_DIR, type, 'DEL', path, 'ours');
      expect([what, d.code, d.stdout]).toEqual([what, 0, '']);
    }
  });
});

describe('the reference, side by side', () => {
  it('refuses a FIFO by its file system magic too; a mount namespace file passes that check and fails late', async () => {
    const r = await call(REFERENCE_DIR, 'bridge', 'ADD', paths['fifo'] ?? '', 'theirs');
    expect((r.json as { msg: string }).msg).toContain('unknown FS magic');
    const m = await call(REFERENCE_DIR, 'bridge', 'ADD', paths['mount namespace'] ?? '', 'theirs');
    expect((m.json as { msg: string }).msg).toContain('error switching to ns');
    expect(leases('theirs')).toEqual([]);
  });
});
