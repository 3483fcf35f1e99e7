/**
 * host-local's store given hostile input (issue 20 rows 2 and 10), the shipped executable and the
 * reference 1.1.1 in one sandbox:
 *  - links planted in `<dataDir>/<net>` (the index directory, an index entry, `.tscni`, the lock,
 *    a lease) once made a rebuild of the index delete the files of the directory a link pointed
 *    at, and an index write replace another file's content. Nothing outside the store is touched
 *    now: our own directories are replaced, other links are refused or unlinked, never followed;
 *  - an interface name that is not UTF-8 reached the lease as U+FFFD, so the reference's DEL could
 *    not release our lease. The bytes are kept now, in the lease and in the kernel's link name.
 * Raw bytes reach the plugin's environment through perl (a Node.js environment is text).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireProgram } from '../../lib/testutil/programs';
import { BIN_DIR, REFERENCE_DIR, Sandbox, run, type RunResult } from '../../lib/testutil/sandbox';

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
