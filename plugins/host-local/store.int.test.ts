/**
 * host-local's store given hostile input (issue 20 rows 2 and 10), the shipped executable and the
 * reference 1.1.1 in one sandbox:
 *  - links planted in `<dataDir>/<net>` (the index directory, an index entry, `.tscni`, the lock,
 *    a lease; a FIFO or a directory at the lock) once made a rebuild of the index delete the files of the directory a link pointed
 *    at, and an index write replace another file's content. Nothing outside the store is touched
 *    now: our own directories are replaced, other links are refused or unlinked, never followed;
 *    the reuse-delay log (`.tscni/released`, a file per address) too, and a FIFO there cannot block;
 *  - an interface name that is not UTF-8 reached the lease as U+FFFD, so the reference's DEL could
 *    not release our lease. The bytes are kept now, in the lease and in the kernel's link name.
 * Raw bytes reach the plugin's environment through perl (a Node.js environment is text).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flockHolders, flockWaitersOn } from '../../lib/testutil/locks';
import { requireProgram } from '../../lib/testutil/programs';
import { BIN_DIR, REFERENCE_DIR, Sandbox, run, type RunResult } from '../../lib/testutil/sandbox';
import { waitFor } from '../../lib/testutil/wait';

let sb: Sandbox;
let ctr = '';
let victim = '';
beforeAll(async () => {
  sb = await Sandbox.create('hlst');
  ctr = await sb.addContainer('c');
  victim = join(sb.dir, 'victim');
  mkdirSync(victim);
});
afterAll(async () => sb.destroy());

const victimFiles = (): Record<string, string> =>
  Object.fromEntries(readdirSync(victim).map((f) => [f, readFileSync(join(victim, f), 'utf8')]));
const plantVictim = (): void => {
  for (const f of ['a', 'b', 'c']) writeFileSync(join(victim, f), `precious ${f}`);
};

const conf = (dataDir: string): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'hlnet',
  type: 'host-local',
  ipam: { type: 'host-local', subnet: '10.66.0.0/24', dataDir },
});
const hl = (command: string, id: string, dataDir: string, exe = join(BIN_DIR, 'host-local')): Promise<RunResult> =>
  sb.runPlugin(exe, { command, containerId: id, netns: ctr, ifName: 'eth0' }, conf(dataDir));
const ok = (r: RunResult): RunResult => {
  if (r.code !== 0) throw new Error(`failed: ${r.stdout}${r.stderr}`);
  return r;
};

describe('row 2: links planted in the store', () => {
  it('a link where .tscni/by-id should be: the index is rebuilt in a directory of its own, the target untouched', async () => {
    const dataDir = join(sb.dir, 'byid');
    ok(await hl('ADD', 'ctr-1', dataDir));
    plantVictim();
    const byId = join(dataDir, 'hlnet', '.tscni', 'by-id');
    await run(['rm', '-rf', byId]);
    symlinkSync(victim, byId);
    // A reference call makes our next one rebuild the index (the directory changed behind its back).
    ok(await hl('ADD', 'ctr-ref', dataDir, join(REFERENCE_DIR, 'host-local')));
    ok(await hl('ADD', 'ctr-2', dataDir));
    ok(await hl('DEL', 'ctr-1', dataDir));
    expect(victimFiles()).toEqual({ a: 'precious a', b: 'precious b', c: 'precious c' });
    expect(lstatSync(byId).isDirectory()).toBe(true);
  });

  it('a link at an index entry: replaced, its target never written', async () => {
    const dataDir = join(sb.dir, 'entry');
    plantVictim();
    mkdirSync(join(dataDir, 'hlnet', '.tscni', 'by-id'), { recursive: true });
    symlinkSync(join(victim, 'a'), join(dataDir, 'hlnet', '.tscni', 'by-id', 'ctr-e:eth0'));
    ok(await hl('ADD', 'ctr-e', dataDir));
    ok(await hl('DEL', 'ctr-e', dataDir));
    expect(victimFiles()).toEqual({ a: 'precious a', b: 'precious b', c: 'precious c' });
  });

  it('a link where .tscni should be is replaced; one at the network directory or the lock is refused (code 5)', async () => {
    plantVictim();
    const meta = join(sb.dir, 'meta');
    mkdirSync(join(meta, 'hlnet'), { recursive: true });
    symlinkSync(victim, join(meta, 'hlnet', '.tscni'));
    ok(await hl('ADD', 'ctr-m', meta));
    ok(await hl('DEL', 'ctr-m', meta));
    expect(lstatSync(join(meta, 'hlnet', '.tscni')).isDirectory()).toBe(true);

    const net = join(sb.dir, 'net');
    mkdirSync(net);
    symlinkSync(victim, join(net, 'hlnet'));
    const r = await hl('ADD', 'ctr-n', net);
    expect(r.json).toMatchObject({ code: 5 });
    expect((r.json as { details?: string }).details ?? '').toContain('refusing to follow it');

    const lock = join(sb.dir, 'lock');
    mkdirSync(join(lock, 'hlnet'), { recursive: true });
    symlinkSync(join(victim, 'new-file'), join(lock, 'hlnet', 'lock'));
    expect((await hl('ADD', 'ctr-l', lock)).json).toMatchObject({ code: 5 });
    expect(victimFiles()).toEqual({ a: 'precious a', b: 'precious b', c: 'precious c' });
  });

  it('a link to a file another process holds locked, a FIFO or a directory at the lock: code 5 at once, never locked through', async () => {
    const held = join(sb.dir, 'held-lock');
    writeFileSync(held, '');
    // The holder keeps its flock on the link's target until its stdin closes (cat exits).
    const holder = spawn(requireProgram('flock'), ['-o', held, 'cat'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const holderExited = new Promise((r) => holder.once('exit', r));
    try {
      await waitFor('the holder to take its lock', () => flockHolders(statSync(held).ino) === 1);
      const plants: Array<[string, (at: string) => Promise<void>]> = [
        ['link', async (at) => symlinkSync(held, at)],
        ['fifo', async (at) => void (await run([requireProgram('mkfifo'), at]))],
        ['dir', async (at) => mkdirSync(at)],
      ];
      for (const [what, plant] of plants) {
        const dataDir = join(sb.dir, `lock-${what}`);
        mkdirSync(join(dataDir, 'hlnet'), { recursive: true });
        await plant(join(dataDir, 'hlnet', 'lock'));
        // Followed, the ADD would queue behind the holder until the call's time limit (code -1).
        const r = await hl('ADD', `ctr-lock-${what}`, dataDir);
        expect([what, r.json]).toEqual([what, expect.objectContaining({ code: 5 })]);
        expect(flockWaitersOn(held)).toBe(0);
        expect(readdirSync(join(dataDir, 'hlnet')).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))).toEqual([]);
      }
    } finally {
      holder.stdin.end();
      await holderExited;
    }
  });

  it('a lease that is a link: DEL unlinks it, its target stays', async () => {
    const dataDir = join(sb.dir, 'lease');
    plantVictim();
    const r = ok(await hl('ADD', 'ctr-x', dataDir));
    const ip = ((r.json as { ips: Array<{ address: string }> }).ips[0]?.address ?? '').split('/')[0] ?? '';
    await run(['rm', '-f', join(dataDir, 'hlnet', ip)]);
    writeFileSync(join(victim, 'lease'), 'ctr-x\r\neth0');
    symlinkSync(join(victim, 'lease'), join(dataDir, 'hlnet', ip));
    ok(await hl('DEL', 'ctr-x', dataDir));
    expect(readFileSync(join(victim, 'lease'), 'utf8')).toBe('ctr-x\r\neth0');
  });
});

describe('row 2: the reuse-delay log (.tscni/released) planted with links and FIFOs', () => {
  // A victim of its own: a directory holding a file named like an address, with a release time
  // of "just now" (followed, it would hold that address back), and a file with the same content.
  let target = '';
  const targetDigest = (): string =>
    readdirSync(target)
      .sort()
      .map((f) => `${f}=${readFileSync(join(target, f), 'utf8')}`)
      .join(' ');
  const SUBNET = '10.66.3.0/30'; // one address to hand out (.1 is the gateway)
  const FIRST = '10.66.3.2';
  const conf = (dataDir: string): Record<string, unknown> => ({
    cniVersion: '1.0.0',
    name: 'rdnet',
    type: 'host-local',
    ipam: { type: 'host-local', subnet: SUBNET, dataDir, reuseDelaySeconds: 600 },
  });
  const call = (command: string, id: string, dataDir: string): Promise<RunResult> =>
    sb.runPlugin(join(BIN_DIR, 'host-local'), { command, containerId: id, netns: ctr, ifName: 'eth0' }, conf(dataDir));
  /** Succeeded (a result, or DEL's empty stdout) or failed with one CNI error; never killed. */
  const settled = (r: RunResult): RunResult => {
    expect(r.code).not.toBe(-1); // -1: killed at the time limit (a FIFO that blocked)
    if (r.code !== 0) expect(r.json).toMatchObject({ code: expect.any(Number), msg: expect.any(String) });
    return r;
  };
  const addressOf = (r: RunResult): string =>
    ((r.json as { ips?: Array<{ address: string }> }).ips?.[0]?.address ?? '').split('/')[0] ?? '';
  const expectHeldBack = (r: RunResult): void => {
    expect(r.code).not.toBe(0);
    expect((r.json as { msg?: string }).msg ?? '').toMatch(/held back by the reuse delay/);
  };
  /** Nothing half-done: no lease, no index entry, no temp file of ours left after the DELs. */
  const expectClean = (dataDir: string): void => {
    const net = join(dataDir, 'rdnet');
    expect(readdirSync(net).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))).toEqual([]);
    expect(readdirSync(join(net, '.tscni', 'by-id'))).toEqual([]);
    expect(readdirSync(join(net, '.tscni')).filter((f) => f.includes('tmp'))).toEqual([]);
  };

  const plantTarget = (): string => {
    target = join(sb.dir, 'released-target');
    rmSync(target, { recursive: true, force: true });
    mkdirSync(target);
    const now = String(Date.now());
    writeFileSync(join(target, FIRST), now);
    writeFileSync(join(target, 'file'), now);
    return targetDigest();
  };

  /** What to plant at a path: a link to the target's file, a link to the target directory, a FIFO. */
  const plants: Array<[string, (at: string) => Promise<void>]> = [
    ['a link to a file', async (at) => symlinkSync(join(target, 'file'), at)],
    ['a link to a directory', async (at) => symlinkSync(target, at)],
    ['a FIFO', async (at) => void (await run([requireProgram('mkfifo'), at]))],
  ];

  it.each(plants)(
    '%s at .tscni/released: ADD and DEL neither follow nor block, the log is a directory again',
    async (what, plant) => {
      const dataDir = join(sb.dir, `rd-dir-${what.replace(/\W+/g, '-')}`);
      const before = plantTarget();
      const meta = join(dataDir, 'rdnet', '.tscni');
      mkdirSync(meta, { recursive: true });
      await plant(join(meta, 'released'));
      // Followed, the target's record would hold FIRST back: the ADD gets it, so it was not read.
      const a = settled(await call('ADD', 'rd-a', dataDir));
      expect(a.code).toBe(0);
      expect(addressOf(a)).toBe(FIRST);
      // DEL logs the release: the thing planted is replaced by a directory of ours, never written through.
      expect(settled(await call('DEL', 'rd-a', dataDir)).code).toBe(0);
      expect(lstatSync(join(meta, 'released')).isDirectory()).toBe(true);
      expect(readdirSync(join(meta, 'released'))).toEqual([FIRST]);
      // The log is kept: the only address, just released, is held back (a CNI error saying so).
      expectHeldBack(settled(await call('ADD', 'rd-b', dataDir)));
      expect(settled(await call('DEL', 'rd-b', dataDir)).code).toBe(0);
      expect(targetDigest()).toBe(before);
      expectClean(dataDir);
    },
  );

  it.each(plants)(
    '%s at .tscni/released/<ip>: ADD drops it unread, DEL replaces it with a record of its own',
    async (what, plant) => {
      const dataDir = join(sb.dir, `rd-ip-${what.replace(/\W+/g, '-')}`);
      const before = plantTarget();
      const released = join(dataDir, 'rdnet', '.tscni', 'released');
      mkdirSync(released, { recursive: true });
      // Before an ADD: not read through (FIRST is handed out), and removed as an unreadable record.
      await plant(join(released, FIRST));
      const a = settled(await call('ADD', 'rd-a', dataDir));
      expect(a.code).toBe(0);
      expect(addressOf(a)).toBe(FIRST);
      expect(readdirSync(released)).toEqual([]);
      // Before a DEL: the record is renamed over it (a link is replaced, its target not written).
      await plant(join(released, FIRST));
      expect(settled(await call('DEL', 'rd-a', dataDir)).code).toBe(0);
      expect(lstatSync(join(released, FIRST)).isFile()).toBe(true);
      expect(Number(readFileSync(join(released, FIRST), 'utf8'))).toBeGreaterThan(0);
      expectHeldBack(settled(await call('ADD', 'rd-b', dataDir)));
      expect(settled(await call('DEL', 'rd-b', dataDir)).code).toBe(0);
      expect(targetDigest()).toBe(before);
      expectClean(dataDir);
    },
  );
});

describe('row 10: an interface name that is not UTF-8', () => {
  /** Runs a plugin with CNI_IFNAME set to bytes (perl passes them as they are). */
  const raw = (exe: string, command: string, id: string, ifNameHex: string, config: unknown): Promise<RunResult> =>
    sb.runPlugin(
      exe,
      {
        command,
        containerId: id,
        netns: ctr,
        ifName: 'placeholder',
        via: [requireProgram('perl'), '-e', `$ENV{CNI_IFNAME}=pack("H*","${ifNameHex}"); exec @ARGV or die`, '--'],
      },
      config,
    );
  const leaseBytes = (dataDir: string, network: string): Buffer[] =>
    readdirSync(join(dataDir, network))
      .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
      .map((f) => readFileSync(join(dataDir, network, f)));

  it('our lease keeps the bytes, and the reference’s DEL releases it (and ours releases the reference’s)', async () => {
    const dataDir = join(sb.dir, 'bytes');
    const hex = '65ff78'; // "e", 0xff, "x"
    ok(await raw(join(BIN_DIR, 'host-local'), 'ADD', 'ctr-b', hex, conf(dataDir)));
    expect(leaseBytes(dataDir, 'hlnet')).toEqual([Buffer.concat([Buffer.from('ctr-b\r\n'), Buffer.from(hex, 'hex')])]);
    ok(await raw(join(REFERENCE_DIR, 'host-local'), 'DEL', 'ctr-b', hex, conf(dataDir)));
    expect(leaseBytes(dataDir, 'hlnet')).toEqual([]);

    ok(await raw(join(REFERENCE_DIR, 'host-local'), 'ADD', 'ctr-r', hex, conf(dataDir)));
    expect(leaseBytes(dataDir, 'hlnet')).toHaveLength(1);
    ok(await raw(join(BIN_DIR, 'host-local'), 'DEL', 'ctr-r', hex, conf(dataDir)));
    expect(leaseBytes(dataDir, 'hlnet')).toEqual([]);
  });

  it('bridge names the container’s link with the bytes; the reference’s DEL removes it and the lease', async () => {
    const dataDir = join(sb.dir, 'bytes-br');
    const hex = 'e2ff30'; // not UTF-8
    const config = {
      cniVersion: '1.0.0',
      name: 'hlbr',
      type: 'bridge',
      bridge: 'hlbr0',
      ipam: { type: 'host-local', subnet: '10.66.1.0/24', dataDir },
    };
    ok(await raw(join(BIN_DIR, 'bridge'), 'ADD', 'ctr-k', hex, config));
    const links = async (): Promise<number> =>
      (await sb.exec('c', ['ip', '-o', 'link', 'show'])).stdout.trim().split('\n').length;
    expect(await links()).toBe(2); // lo and the container's end of the veth
    // The reference finds the link by the bytes it was given: a link named otherwise would stay.
    ok(await raw(join(REFERENCE_DIR, 'bridge'), 'DEL', 'ctr-k', hex, config));
    expect(leaseBytes(dataDir, 'hlbr')).toEqual([]);
    expect(await links()).toBe(1); // lo only
  });
});
