/** firewall's verbs in-process against a recording runner and a temporary records directory (no root). */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingRunner } from '../../lib/exec/recording';
import type { Command } from '../../lib/exec/runner';
import { resetBackendProbes } from '../../lib/firewall/backend';
import { callVerb, withRunner } from '../../lib/testutil/verbs';
import { add } from './add';
import { check } from './check';
import { del } from './del';
import { gc } from './gc';
import { status } from './status';

const verbs = { add, check, del, gc, status };
let dir = '';
/** No system bus here, unless a test creates the socket file. */
let env: Record<string, string> = {};
beforeEach(() => {
  resetBackendProbes();
  dir = mkdtempSync(join(tmpdir(), 'tscni-fw-'));
  env = { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(dir, 'bus')}` };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const prevResult = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/nonexistent/netns' }],
  ips: [
    { address: '10.0.0.2/24', interface: 2 },
    { address: 'fd00::2/64', interface: 2 },
  ],
};
const conf = (extra: object = {}): Record<string, unknown> => ({
  cniVersion: '1.1.0',
  name: 'net1',
  type: 'firewall',
  dataDir: join(dir, 'fw'),
  prevResult,
  ...extra,
});
const call = (runner: RecordingRunner, command: string, c: object): ReturnType<typeof callVerb> =>
  callVerb(withRunner(verbs, runner), command, c, { env });
const restores = (r: RecordingRunner): Command[] => r.calls.filter((c) => c.tool.endsWith('-restore'));
const recordFile = (): string => join(dir, 'fw', 'attachments', 'net1', 'c1', 'eth0.json');

describe('firewall ADD', () => {
  it('iptables: reads only the chains it touches, writes one restore per family and a record', async () => {
    const runner = new RecordingRunner();
    const out = await call(runner, 'ADD', conf({ backend: 'iptables', ingressPolicy: 'same-bridge' }));
    expect(out.code).toBe(0);
    expect(out.json['ips']).toEqual(prevResult.ips);
    const reads = runner.lines().filter((l) => l.includes(' -S '));
    expect(new Set(reads.map((l) => l.split(' ').pop()))).toEqual(
      new Set(['FORWARD', 'CNI-FORWARD', 'CNI-ADMIN', 'CNI-ISOLATION-STAGE-1', 'CNI-ISOLATION-STAGE-2']),
    );
    expect(restores(runner).map((c) => c.tool)).toEqual(['iptables-restore', 'ip6tables-restore']);
    expect(String(restores(runner)[1]?.input)).toContain('-A CNI-FORWARD -s fd00::2/128 -j ACCEPT');
    expect(JSON.parse(readFileSync(recordFile(), 'utf8'))).toMatchObject({
      backend: 'iptables',
      ips: ['10.0.0.2', 'fd00::2'],
      bridge: 'cni0',
      hostVeth: 'veth1',
    });
    expect(runner.calls.some((c) => c.tool === 'busctl')).toBe(false);
  });

  it('a failing IPv6 restore rolls back the IPv4 rules and the record', async () => {
    const runner = new RecordingRunner()
      .on((c) => c.tool === 'ip6tables-restore', { exitCode: 1, stderr: 'ip6tables-restore: line 3 failed' })
      // After the IPv4 restore, the listing shows its rules (what the rollback then deletes).
      .on(
        (c) => c.tool === 'iptables' && c.argv.includes('CNI-FORWARD'),
        () => ({
          stdout: restores(runner).some((c) => c.tool === 'iptables-restore')
            ? '-N CNI-FORWARD\n-A CNI-FORWARD -s 10.0.0.2/32 -j ACCEPT\n'
            : '',
        }),
      );
    const out = await call(runner, 'ADD', conf({ backend: 'iptables' }));
    expect(out.json).toMatchObject({ code: 999 });
    expect(String(out.json['msg'])).toMatch(/ip6tables-restore/);
    const v4 = restores(runner).filter((c) => c.tool === 'iptables-restore');
    expect(v4).toHaveLength(2);
    expect(String(v4[1]?.input)).toBe('*filter\n-D CNI-FORWARD -s 10.0.0.2/32 -j ACCEPT\nCOMMIT\n');
    expect(existsSync(recordFile())).toBe(false);
  });

  for (const version of ['0.1.0', '0.2.0']) {
    it(`[${version}] takes the addresses of an old-style prevResult and prints it back in its version`, async () => {
      const runner = new RecordingRunner();
      const old = { cniVersion: version, ip4: { ip: '10.0.0.7/24', gateway: '10.0.0.1' } };
      const out = await call(runner, 'ADD', { ...conf({ backend: 'nftables' }), cniVersion: version, prevResult: old });
      expect(out.code).toBe(0);
      expect(out.json).toMatchObject({ ip4: { ip: '10.0.0.7/24' } });
      expect(String(runner.calls[0]?.input)).toContain(
        'add element inet tscni_firewall containers4 { 10.0.0.7 comment',
      );
    });
  }

  it('nftables: one transaction and no read', async () => {
    const runner = new RecordingRunner();
    expect((await call(runner, 'ADD', conf({ backend: 'nftables' }))).code).toBe(0);
    expect(runner.lines()).toEqual(['nft -f -']);
  });

  it('without a backend, where iptables is unusable: nftables, after undoing the attempt', async () => {
    const runner = new RecordingRunner()
      .on((c) => c.tool === 'iptables-restore' || c.tool === 'ip6tables-restore', {
        exitCode: 1,
        stderr: 'no iptables',
      })
      .on((c) => c.tool === 'iptables' && c.argv.includes('INPUT'), { exitCode: 1 });
    expect((await call(runner, 'ADD', conf())).code).toBe(0);
    expect(runner.lines()).toContain('nft -f -');
    expect(JSON.parse(readFileSync(recordFile(), 'utf8'))).toMatchObject({ backend: 'nftables' });
  });
});

describe('firewall DEL', () => {
  it('without prevResult or netns: the record says what to remove, and goes last', async () => {
    const setup = new RecordingRunner();
    await call(setup, 'ADD', conf({ backend: 'iptables' }));
    const runner = new RecordingRunner().on(
      (c) => c.tool.startsWith('ip') && c.argv.includes('CNI-FORWARD'),
      (c) => ({
        stdout:
          c.tool === 'iptables'
            ? '-N CNI-FORWARD\n-A CNI-FORWARD -d 10.0.0.2/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n'
            : '',
      }),
    );
    const out = await callVerb(
      withRunner(verbs, runner),
      'DEL',
      { ...conf(), prevResult: undefined },
      { env, netns: '' },
    );
    expect(out.code).toBe(0);
    expect(restores(runner).map((c) => String(c.input))).toEqual([
      '*filter\n-D CNI-FORWARD -d 10.0.0.2/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n',
    ]);
    expect(existsSync(recordFile())).toBe(false);
  });

  it('a record whose names are not valid is ignored, never passed to a command', async () => {
    await call(new RecordingRunner(), 'ADD', conf({ backend: 'iptables' }));
    const rec = JSON.parse(readFileSync(recordFile(), 'utf8')) as Record<string, unknown>;
    writeFileSync(recordFile(), JSON.stringify({ ...rec, ips: ['10.0.0.2 -j DROP'] }));
    const runner = new RecordingRunner();
    expect((await call(runner, 'DEL', { ...conf(), prevResult: undefined })).code).toBe(0);
    expect(runner.calls).toEqual([]);
  });

  it('removes what a killed rewrite of the record left: its temp file kept the directory (gc.int saw it)', async () => {
    await call(new RecordingRunner(), 'ADD', conf({ backend: 'iptables' }));
    writeFileSync(join(dir, 'fw', 'attachments', 'net1', 'c1', '.eth0.json.0123456789ab.tmp'), '{"backend":');
    expect((await call(new RecordingRunner(), 'DEL', conf())).code).toBe(0);
    expect(readdirSync(join(dir, 'fw', 'attachments'))).toEqual([]);
    expect(readdirSync(join(dir, 'fw', 'iptables', 'ips'))).toEqual([]);
  });

  it('removes the empty directory of an ADD killed before it wrote its record (gc.int saw it)', async () => {
    mkdirSync(join(dir, 'fw', 'attachments', 'net1', 'c1'), { recursive: true });
    const runner = new RecordingRunner();
    expect((await call(runner, 'DEL', { ...conf(), prevResult: undefined })).code).toBe(0);
    expect(runner.calls).toEqual([]);
    expect(readdirSync(join(dir, 'fw', 'attachments'))).toEqual([]);
  });

  it('knows nothing and is told nothing: does nothing', async () => {
    const runner = new RecordingRunner();
    expect((await call(runner, 'DEL', { ...conf(), prevResult: undefined })).code).toBe(0);
    expect(runner.calls).toEqual([]);
  });
});

describe('firewalld backend (busctl on the system bus)', () => {
  const running = (): RecordingRunner => {
    writeFileSync(join(dir, 'bus'), '');
    return new RecordingRunner()
      .on((c) => c.tool === 'busctl' && c.argv.includes('querySource'), { stdout: 'b true\n' })
      .on((c) => c.tool === 'busctl' && c.argv.includes('addSource') && c.argv.includes('fd00::2/128'), {
        exitCode: 1,
        stderr: 'Call failed: ZONE_ALREADY_SET: fd00::2/128',
      });
  };

  it('is the default where firewalld runs: addresses become sources of the zone; isolation goes to iptables', async () => {
    const runner = running();
    const out = await call(runner, 'ADD', conf({ firewalldZone: 'containers', ingressPolicy: 'same-bridge' }));
    expect(out.code).toBe(0);
    const bus = runner.lines().filter((l) => l.startsWith('busctl'));
    expect(bus).toEqual([
      'busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetNameOwner s org.fedoraproject.FirewallD1',
      'busctl --system call org.fedoraproject.FirewallD1 /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1.zone addSource ss containers 10.0.0.2/32',
      'busctl --system call org.fedoraproject.FirewallD1 /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1.zone addSource ss containers fd00::2/128',
    ]);
    expect(restores(runner).every((c) => !String(c.input).includes('CNI-FORWARD'))).toBe(true);
    expect(String(restores(runner)[0]?.input)).toContain('-i cni0 ! -o cni0');
    const chk = await call(runner, 'CHECK', conf({ firewalldZone: 'containers' }));
    expect(chk.code).toBe(0);
    const rm = new RecordingRunner();
    expect((await call(rm, 'DEL', { ...conf(), prevResult: undefined })).code).toBe(0);
    expect(rm.lines().filter((l) => l.includes('removeSource'))).toHaveLength(2);
  });

  it('configured where firewalld does not run: code 50 and nothing done', async () => {
    const runner = new RecordingRunner();
    const out = await call(runner, 'ADD', conf({ backend: 'firewalld' }));
    expect(out.json).toMatchObject({ code: 50, msg: 'firewalld is not running' });
    expect(runner.calls).toEqual([]);
    expect((await call(runner, 'STATUS', conf({ backend: 'firewalld' }))).json).toMatchObject({ code: 50 });
  });

  it('CHECK reports an address that is not a source of the zone', async () => {
    writeFileSync(join(dir, 'bus'), '');
    const runner = new RecordingRunner().on((c) => c.argv.includes('querySource'), { stdout: 'b false\n' });
    const out = await call(runner, 'CHECK', conf({ backend: 'firewalld' }));
    expect(out.json).toMatchObject({ msg: 'failed to find the address 10.0.0.2/32 in the firewalld zone trusted' });
  });
});

describe('firewall GC and STATUS', () => {
  it('GC releases records missing from the valid attachments, in one change per backend', async () => {
    await call(new RecordingRunner(), 'ADD', conf({ backend: 'nftables' }));
    const runner = new RecordingRunner().on((c) => c.tool === 'nft' && c.argv.includes('-j'), {
      stdout: JSON.stringify({
        nftables: [
          { set: { name: 'containers4', type: 'ipv4_addr', elem: [{ elem: { val: '10.0.0.2', comment: 'x' } }] } },
        ],
      }),
    });
    const out = await call(runner, 'GC', { ...conf(), prevResult: undefined, 'cni.dev/valid-attachments': [] });
    expect(out.code).toBe(0);
    const writes = runner.calls.filter((c) => c.argv[0] === '-f').map((c) => String(c.input));
    expect(writes).toEqual([
      'add element inet tscni_firewall containers4 { 10.0.0.2 }\ndelete element inet tscni_firewall containers4 { 10.0.0.2 }\n',
    ]);
    expect(existsSync(recordFile())).toBe(false);
  });

  it('STATUS: code 50 when no backend is usable', async () => {
    const runner = new RecordingRunner().on((c) => c.tool === 'iptables' || c.tool === 'nft', { exitCode: 1 });
    expect((await call(runner, 'STATUS', conf())).json).toMatchObject({ code: 50 });
    resetBackendProbes();
    expect((await call(new RecordingRunner(), 'STATUS', conf())).code).toBe(0);
  });
});
