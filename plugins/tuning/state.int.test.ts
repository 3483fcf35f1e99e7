/**
 * tuning's state file given hostile input (issue 20 row 9): where `<dataDir>/<id>_<ifname>.json`
 * should be, a FIFO hung ADD (the reference hangs too), a directory made every DEL fail, a
 * damaged file blocked ADD until a DEL, and a link was written through. Now ADD replaces what
 * it cannot read (with a warning), DEL restores what it can and succeeds, a link's target is
 * never touched. In a sandbox; the container's interface is a veth to the sandbox host.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireProgram } from '../../lib/testutil/programs';
import { BIN_DIR, Sandbox, runOk, type RunResult } from '../../lib/testutil/sandbox';

let sb: Sandbox;
let dataDir = '';
let victim = '';
beforeAll(async () => {
  sb = await Sandbox.create('tunst');
  dataDir = join(sb.dir, 'tuning');
  mkdirSync(dataDir);
  victim = join(sb.dir, 'victim');
  writeFileSync(victim, 'precious');
});
afterAll(async () => sb.destroy());

let n = 0;
/** A container whose eth0 is a veth to the sandbox host, MTU 1500. */
async function wire(): Promise<{ id: string; netns: string; prev: Record<string, unknown> }> {
  const i = ++n;
  const netns = await sb.addContainer(`s${i}`);
  await runOk([
    'ip',
    '-n',
    sb.hostNs,
    'link',
    'add',
    `ts${i}`,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    sb.nsName(`s${i}`),
  ]);
  return {
    id: `ctr-s${i}`,
    netns,
    prev: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: netns }], ips: [] },
  };
}
const conf = (prev: unknown): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'tunst',
  type: 'tuning',
  mtu: 1400,
  dataDir,
  prevResult: prev,
});
const call = (command: string, w: { id: string; netns: string; prev: unknown }): Promise<RunResult> =>
  sb.runPlugin(join(BIN_DIR, 'tuning'), { command, containerId: w.id, netns: w.netns, ifName: 'eth0' }, conf(w.prev));
const mtu = async (w: { id: string }): Promise<number> =>
  Number((await sb.exec(`s${w.id.slice('ctr-s'.length)}`, ['cat', '/sys/class/net/eth0/mtu'])).stdout.trim());
const stateFile = (w: { id: string }): string => join(dataDir, `${w.id}_eth0.json`);

describe('row 9: a special file or a link where the state file goes', () => {
  const plant: Record<string, (path: string) => void> = {
    FIFO: (p) => execFileSync(requireProgram('mkfifo'), [p]),
    'empty directory': (p) => mkdirSync(p),
    'damaged file': (p) => writeFileSync(p, '{"mtu": "not a number'),
    'link to another file': (p) => symlinkSync(victim, p),
  };
  it.each(Object.keys(plant))('%s: ADD replaces it, DEL restores the MTU and succeeds', async (what) => {
    const w = await wire();
    plant[what]?.(stateFile(w));
    const add = await call('ADD', w);
    expect([add.code, add.stdout]).toEqual([0, expect.stringContaining('"cniVersion"')]);
    expect(add.stderr).toContain('replacing it');
    expect(await mtu(w)).toBe(1400);
    expect(lstatSync(stateFile(w)).isFile()).toBe(true);
    const del = await call('DEL', w);
    expect([del.code, del.stdout]).toEqual([0, '']);
    expect(await mtu(w)).toBe(1500);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
  });

  it('DEL with a FIFO, a directory or a link there succeeds without hanging or following it', async () => {
    for (const what of ['FIFO', 'empty directory', 'link to another file']) {
      const w = await wire();
      plant[what]?.(stateFile(w));
      const del = await call('DEL', w);
      expect([what, del.code, del.stdout]).toEqual([what, 0, '']);
    }
    // A directory that is not empty stays (nothing is removed recursively), DEL still succeeds.
    const w = await wire();
    mkdirSync(join(stateFile(w), 'inner'), { recursive: true });
    const del = await call('DEL', w);
    expect([del.code, del.stdout]).toEqual([0, '']);
    expect(lstatSync(join(stateFile(w), 'inner')).isDirectory()).toBe(true);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
  });

  it('a container ID too long for a file name: ADD and DEL work (the state file name is hashed)', async () => {
    const w = { ...(await wire()), id: `c${'0123456789'.repeat(30)}` };
    const r = await sb.runPlugin(
      join(BIN_DIR, 'tuning'),
      { command: 'ADD', containerId: w.id, netns: w.netns, ifName: 'eth0' },
      conf(w.prev),
    );
    expect(r.code).toBe(0);
    const d = await sb.runPlugin(
      join(BIN_DIR, 'tuning'),
      { command: 'DEL', containerId: w.id, netns: w.netns, ifName: 'eth0' },
      conf(w.prev),
    );
    expect(d.code).toBe(0);
  });
});
