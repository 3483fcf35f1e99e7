/**
 * host-local (and bridge over it) on a full and on a read-only store: small tmpfs mounts in a
 * private mount namespace (lib/testutil/mountns.ts), never in the machine's own. ADD fails with
 * code 5 naming the store and leaves the store as it was (no lease, index entry or temp file;
 * the lock free); DEL still removes the container's network and reports what it could not do;
 * STATUS says 50 before any ADD is tried.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PrivateMounts } from '../../lib/testutil/mountns';
import { BIN_DIR, Sandbox, run, type RunResult } from '../../lib/testutil/sandbox';

const HOST_LOCAL = join(BIN_DIR, 'host-local');
const BRIDGE = join(BIN_DIR, 'bridge');
const NET = 'disknet';

let sb: Sandbox;
let pm: PrivateMounts;

beforeAll(async () => {
  sb = await Sandbox.create('disk');
  for (const c of ['c1', 'c2', 'c3', 'c4']) await sb.addContainer(c);
  pm = await PrivateMounts.create(); // after the namespaces: it must see them
});
afterAll(async () => {
  await pm?.destroy();
  await sb?.destroy();
});

/** host-local alone; dual-stack makes an ADD write more files (two leases, two cursors). */
const ipamConf = (dataDir: string, dual = false): Record<string, unknown> => ({
  cniVersion: '1.1.0',
  name: NET,
  type: 'host-local',
  ipam: {
    type: 'host-local',
    dataDir,
    ranges: [[{ subnet: '10.55.0.0/24' }], ...(dual ? [[{ subnet: 'fd00:55::/120' }]] : [])],
  },
});
const bridgeConf = (dataDir: string): Record<string, unknown> => ({
  cniVersion: '1.1.0',
  name: NET,
  type: 'bridge',
  bridge: 'dkbr0',
  isGateway: true,
  ipMasq: true,
  ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.55.0.0/24' }]] },
});
/** A plugin call that sees the private mounts. */
const call = (plugin: string, command: string, id: string, config: unknown): Promise<RunResult> =>
  sb.runPlugin(
    plugin,
    { command, containerId: id, netns: `/run/netns/${sb.nsName(id)}`, ifName: 'eth0', via: pm.enter([]) },
    config,
  );
const err = (r: RunResult): { code?: number; msg?: string } => (r.json ?? {}) as { code?: number; msg?: string };

/**
 * Every file of the store with its content. Not the stamp (the index's cache key) nor the
 * round-robin cursors: a rolled-back ADD moves them, as the reference's does.
 */
function snapshot(dataDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string): void => {
    for (const n of readdirSync(dir).sort()) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p, `${rel}${n}/`);
      else if (n !== 'stamp' && !n.startsWith('last_reserved_ip.')) out[`${rel}${n}`] = readFileSync(p, 'utf8');
    }
  };
  walk(pm.view(join(dataDir, NET)), '');
  return out;
}
/** The store's lock can be taken at once: nobody holds it. */
const lockFree = async (dataDir: string): Promise<boolean> =>
  (await pm.exec(['flock', '-n', '-x', join(dataDir, NET, 'lock'), 'true'])).code === 0;
const linkGone = async (c: string): Promise<boolean> =>
  (await run(['ip', '-n', sb.nsName(c), 'link', 'show', 'eth0'])).code !== 0;

describe('a full store', () => {
  const dir = (): string => join(sb.dir, 'full');

  beforeAll(async () => {
    await run(['mkdir', '-p', dir()]);
    await pm.mountTmpfs(dir(), '512k');
  });

  it('STATUS says 50 before any ADD, while the store does not even exist', async () => {
    expect((await call(HOST_LOCAL, 'STATUS', '', ipamConf(dir()))).code).toBe(0);
    await pm.leaveFree(dir(), join(dir(), 'filler'), 0);
    const st = await call(HOST_LOCAL, 'STATUS', '', ipamConf(dir()));
    expect(st.code).toBe(1);
    expect(err(st)).toMatchObject({ code: 50, msg: `host-local store ${dir()}: no space left on its file system` });
    await pm.leaveFree(dir(), join(dir(), 'filler'), 64);
  });

  it('ADD at every fill level either succeeds or fails with code 5 and changes nothing', async () => {
    expect((await call(BRIDGE, 'ADD', 'c1', bridgeConf(dir()))).code).toBe(0);
    const outcomes: string[] = [];
    // With the index's stamp in place, and without (as after a holder was killed): the ADD then
    // fails at other steps, since removing the stamp frees a block.
    for (const stamp of ['kept', 'removed']) {
      for (let free = 0; free <= 8; free++) {
        if (stamp === 'removed') await pm.exec(['rm', '-f', join(dir(), NET, '.tscni', 'stamp')]);
        await pm.leaveFree(dir(), join(dir(), 'filler'), free);
        const before = snapshot(dir());
        const r = await call(HOST_LOCAL, 'ADD', 'c2', ipamConf(dir(), true));
        if (r.code === 0) {
          outcomes.push(`stamp ${stamp}, ${free} free: ok`);
          await pm.leaveFree(dir(), join(dir(), 'filler'), 64);
          expect((await call(HOST_LOCAL, 'DEL', 'c2', ipamConf(dir(), true))).code).toBe(0);
          continue;
        }
        const step = /: cannot (.*): no space left on device \(ENOSPC\)$/.exec(err(r).msg ?? '')?.[1];
        outcomes.push(`stamp ${stamp}, ${free} free: failed to ${step}`);
        expect(err(r).code).toBe(5);
        expect(err(r).msg).toMatch(
          new RegExp(`^(failed to allocate for range \\d: )?host-local store ${dir()}/${NET}: cannot `),
        );
        expect(step).toBeDefined();
        expect(snapshot(dir())).toEqual(before); // no lease, no index entry, no temp file
        expect(await lockFree(dir())).toBe(true);
      }
    }
    // Both kinds of outcome happened, and failures at more than one step.
    expect(outcomes.filter((o) => o.endsWith(': ok')).length).toBeGreaterThan(0);
    expect(new Set(outcomes.filter((o) => o.includes('failed')).map((o) => o.split(': ')[1])).size).toBeGreaterThan(1);
  });

  it('DEL on a full disk removes the network and releases the lease', async () => {
    await pm.leaveFree(dir(), join(dir(), 'filler'), 0);
    const leaseOf = Object.keys(snapshot(dir())).filter((n) => n.startsWith('10.55.'));
    expect(leaseOf).toHaveLength(1);
    const r = await call(BRIDGE, 'DEL', 'c1', bridgeConf(dir()));
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await linkGone('c1')).toBe(true);
    expect(Object.keys(snapshot(dir())).filter((n) => n.startsWith('10.55.'))).toEqual([]);
    // The index follows once there is room again.
    await pm.leaveFree(dir(), join(dir(), 'filler'), 64);
    expect((await call(HOST_LOCAL, 'DEL', 'nobody', ipamConf(dir()))).code).toBe(0);
    expect(readdirSync(pm.view(join(dir(), NET, '.tscni', 'by-id')))).toEqual([]);
  });
});

describe('a read-only store', () => {
  const dir = (): string => join(sb.dir, 'ro');

  beforeAll(async () => {
    await run(['mkdir', '-p', dir()]);
    await pm.mountTmpfs(dir(), '1m');
  });

  it('STATUS says 50 before any ADD', async () => {
    await pm.remount(dir(), 'ro');
    const st = await call(HOST_LOCAL, 'STATUS', '', ipamConf(dir()));
    expect(err(st)).toMatchObject({ code: 50, msg: `store path ${dir()} is not writable` });
    await pm.remount(dir(), 'rw');
  });

  it('ADD fails with code 5 and changes nothing; DEL removes the network and reports the store', async () => {
    expect((await call(BRIDGE, 'ADD', 'c3', bridgeConf(dir()))).code).toBe(0);
    await pm.remount(dir(), 'ro');
    const before = snapshot(dir());

    const add = await call(BRIDGE, 'ADD', 'c4', bridgeConf(dir()));
    expect(err(add).code).toBe(5);
    expect(err(add).msg).toMatch(
      new RegExp(`host-local store ${dir()}/${NET}: cannot .*: read-only file system \\(EROFS\\)$`),
    );
    expect(snapshot(dir())).toEqual(before);
    expect(await linkGone('c4')).toBe(true); // rolled back
    expect(await lockFree(dir())).toBe(true);

    const del = await call(BRIDGE, 'DEL', 'c3', bridgeConf(dir()));
    expect(del.code).toBe(1);
    expect(err(del)).toMatchObject({ code: 5 });
    expect(err(del).msg).toMatch(
      new RegExp(
        `^host-local store ${dir()}/${NET}: cannot release the lease of 10\\.55\\.0\\.\\d+: read-only file system \\(EROFS\\)$`,
      ),
    );
    expect(await linkGone('c3')).toBe(true); // the network is gone all the same
    expect(snapshot(dir())).toEqual(before);

    // Writable again, the runtime's retried DEL finishes the job.
    await pm.remount(dir(), 'rw');
    expect((await call(BRIDGE, 'DEL', 'c3', bridgeConf(dir()))).code).toBe(0);
    expect(Object.keys(snapshot(dir())).filter((n) => n.startsWith('10.55.'))).toEqual([]);
    expect(existsSync(pm.view(join(dir(), NET, '.tscni', 'lease.tmp')))).toBe(false);
  });
});
