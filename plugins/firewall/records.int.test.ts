/**
 * The firewall plugin's records given hostile input (issue 20 row 7 and the state-file rows): a
 * container ID too long for a file name once made ADD fail with ENAMETOOLONG and every later DEL
 * too (a runtime retrying that DEL never gets past it); links planted in the records directory
 * redirected writes and deletions. In a sandbox, the reference 1.1.1 beside it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../../lib/testutil/sandbox';

let sb: Sandbox;
let ctr: string;
beforeAll(async () => {
  sb = await Sandbox.create('fwrec');
  ctr = await sb.addContainer('c');
});
afterAll(async () => sb.destroy());

const prev = (address: string): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  interfaces: [{ name: 'recbr0' }, { name: 'vethr' }, { name: 'eth0', sandbox: ctr }],
  ips: [{ interface: 2, address }],
});
const conf = (dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'recnet',
  type: 'firewall',
  backend: 'iptables',
  dataDir,
  ...extra,
});
const call = (exe: string, command: string, id: string, config: unknown): Promise<RunResult> =>
  sb.runPlugin(exe, { command, containerId: id, netns: ctr, ifName: 'eth0' }, config);
const ok = (r: RunResult): RunResult => {
  if (r.code !== 0) throw new Error(`failed: ${r.stdout}${r.stderr}`);
  return r;
};
const forwardRules = async (): Promise<string> => (await sb.exec('host', ['iptables', '-S', 'CNI-FORWARD'])).stdout;

describe('row 7: a container ID longer than a file name', () => {
  const longId = `c${'0123456789'.repeat(30)}`; // 301 characters

  it('ADD, DEL by prevResult and DEL by record all succeed, and nothing is left (the reference: ADD and DEL succeed)', async () => {
    const dataDir = join(sb.dir, 'fw-long');
    ok(await call(join(BIN_DIR, 'firewall'), 'ADD', longId, conf(dataDir, { prevResult: prev('10.65.0.2/24') })));
    expect(await forwardRules()).toContain('10.65.0.2/32');
    // DEL without prevResult: only the record says which address it was.
    ok(await call(join(BIN_DIR, 'firewall'), 'DEL', longId, conf(dataDir)));
    expect(await forwardRules()).not.toContain('10.65.0.2');
    ok(await call(join(BIN_DIR, 'firewall'), 'DEL', longId, conf(dataDir)));
    expect(readdirSync(join(dataDir, 'attachments'))).toEqual([]);

    const theirs = join(sb.dir, 'fw-long-ref');
    ok(await call(join(REFERENCE_DIR, 'firewall'), 'ADD', longId, conf(theirs, { prevResult: prev('10.65.0.3/24') })));
    ok(await call(join(REFERENCE_DIR, 'firewall'), 'DEL', longId, conf(theirs, { prevResult: prev('10.65.0.3/24') })));
  });

  it('GC keeps a long-ID attachment that is still valid and drops one that is not', async () => {
    const dataDir = join(sb.dir, 'fw-gc');
    const other = `d${'9876543210'.repeat(30)}`;
    ok(await call(join(BIN_DIR, 'firewall'), 'ADD', longId, conf(dataDir, { prevResult: prev('10.65.0.4/24') })));
    ok(await call(join(BIN_DIR, 'firewall'), 'ADD', other, conf(dataDir, { prevResult: prev('10.65.0.5/24') })));
    const gc = conf(dataDir, {
      cniVersion: '1.1.0',
      'cni.dev/valid-attachments': [{ containerID: longId, ifname: 'eth0' }],
    });
    ok(await sb.runPlugin(join(BIN_DIR, 'firewall'), { command: 'GC' }, gc));
    const rules = await forwardRules();
    expect(rules).toContain('10.65.0.4/32');
    expect(rules).not.toContain('10.65.0.5');
    ok(await call(join(BIN_DIR, 'firewall'), 'DEL', longId, conf(dataDir)));
  });
});

describe('links planted in the records directory', () => {
  it('are never written through nor deleted through', async () => {
    const dataDir = join(sb.dir, 'fw-links');
    const victim = join(sb.dir, 'victim');
    mkdirSync(victim);
    writeFileSync(join(victim, 'keep'), 'precious');
    mkdirSync(join(dataDir, 'attachments'), { recursive: true });
    // The network's record directory and the address holders' realm are links to the victim.
    symlinkSync(victim, join(dataDir, 'attachments', 'recnet'));
    symlinkSync(victim, join(dataDir, 'iptables'));
    const r = await call(
      join(BIN_DIR, 'firewall'),
      'ADD',
      'ctr-l',
      conf(dataDir, { prevResult: prev('10.65.0.6/24') }),
    );
    expect(r.code).not.toBe(0);
    expect(r.json).toMatchObject({ code: 5 });
    expect((r.json as { msg: string }).msg).toContain('refusing to follow it');
    expect(await forwardRules()).not.toContain('10.65.0.6');
    const d = await call(
      join(BIN_DIR, 'firewall'),
      'DEL',
      'ctr-l',
      conf(dataDir, { prevResult: prev('10.65.0.6/24') }),
    );
    expect(d.code).toBe(0);
    expect(readdirSync(victim)).toEqual(['keep']);
    expect(readFileSync(join(victim, 'keep'), 'utf8')).toBe('precious');
    expect(existsSync(join(dataDir, 'attachments', 'recnet'))).toBe(true); // the link itself is left alone
  });
});

// Issue 20 row 3: DEL writes a teardown mark (lib/state/marks.ts) before it removes rules; a link
// planted there once had its target overwritten with the mark.
describe('row 3: links planted where DEL writes its teardown mark', () => {
  it('a link at the mark and a link at teardown/: DEL succeeds, neither target is written', async () => {
    const dataDir = join(sb.dir, 'fw-marks');
    const runDir = join(sb.dir, 'run-marks');
    const victimFile = join(sb.dir, 'victim-mark');
    const victimDir = join(sb.dir, 'victim-marks');
    writeFileSync(victimFile, 'precious');
    mkdirSync(victimDir);
    const config = conf(dataDir, { prevResult: prev('10.65.0.7/24') });
    const del = (id: string): Promise<RunResult> =>
      sb.runPlugin(
        join(BIN_DIR, 'firewall'),
        { command: 'DEL', containerId: id, netns: ctr, ifName: 'eth0', env: { TSCNI_RUN_DIR: runDir } },
        config,
      );
    mkdirSync(join(runDir, 'teardown'), { recursive: true });
    symlinkSync(victimFile, join(runDir, 'teardown', 'recnet:ctr-m:eth0'));
    ok(await del('ctr-m'));
    expect(readFileSync(victimFile, 'utf8')).toBe('precious');
    // The whole directory a link: replaced by a directory of ours, the target left empty.
    rmSync(join(runDir, 'teardown'), { recursive: true });
    symlinkSync(victimDir, join(runDir, 'teardown'));
    ok(await del('ctr-n'));
    expect(readdirSync(victimDir)).toEqual([]);
    expect(readdirSync(join(runDir, 'teardown'))).toContain('recnet:ctr-n:eth0');
  });
});
