/**
 * tuning without root (its configuration: config.test.ts): sysctl key rules, the allow-list, the
 * state file format (the reference's), and the verbs' kernel work on a recording netlink socket,
 * a fake /proc/sys and an in-memory store (golden request lines, rollback, restore, CHECK); DEL,
 * GC and STATUS through the dispatcher on a temporary state directory.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dispatch } from '../../lib/cni/dispatch';
import type { Invocation } from '../../lib/cni/invocation';
import type { ContainerId, IfName, NetworkName } from '../../lib/cni/names';
import { IFF_ALLMULTI, IFF_PROMISC } from '../../lib/netlink/constants';
import { RecordingSocket, reply, type Responder } from '../../lib/netlink/fake';
import { Rtnl } from '../../lib/netlink';
import { cannedLink } from '../../lib/netlink/fake';
import { loadTuningConfig, type TuningConfig } from './config';
import { decodeRecord, encodeRecord, memoryStore, mergeRecords, recordName } from './state';
import {
  checkAllowlist,
  checkNamespaced,
  parseStoredKey,
  parseSysctlKey,
  readAllowlist,
  sameSysctlValue,
} from './sysctl';
import type { SysctlFs, SysctlKind } from '../../lib/net/sysctl';
import { duplicateSysctlKey } from './duplicates';
import { applyTuning, checkTuning, restoreTuning } from './tune';
import { PLUGINS } from '../registry';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'tscni-tuning-'));
  dirs.push(d);
  return d;
};

function inv(
  config: Record<string, unknown>,
  o: { ifName?: string; cniArgs?: string; command?: string } = {},
): Invocation {
  return {
    command: (o.command ?? 'ADD') as Invocation['command'],
    containerId: 'c1' as ContainerId,
    netns: '/run/netns/x',
    ifName: (o.ifName ?? 'eth0') as IfName,
    cniArgs: o.cniArgs ?? '',
    cniPath: [],
    env: {},
    stdin: Buffer.from(JSON.stringify(config)),
    config,
    networkName: 'tnet' as NetworkName,
    cniVersion: '1.0.0',
  };
}
const base = { cniVersion: '1.0.0', name: 'tnet', type: 'tuning' };
const caught = (fn: () => unknown): { code?: number; msg?: string; details?: string } => {
  try {
    fn();
  } catch (e) {
    return e as { code?: number; msg?: string };
  }
  throw new Error('expected a throw');
};

describe('sysctl keys', () => {
  it.each([
    ['net.ipv4.conf.eth0.rp_filter', 'net/ipv4/conf/eth0/rp_filter'],
    ['net/ipv4/conf/eth0/rp_filter', 'net/ipv4/conf/eth0/rp_filter'],
    ['/net/ipv4/ip_forward', 'net/ipv4/ip_forward'],
    ['net.ipv4..conf.all.rp_filter/', 'net/ipv4/conf/all/rp_filter'],
    ['net.ipv4.conf.IFNAME.rp_filter', 'net/ipv4/conf/eth0.100/rp_filter'],
    ['net/../kernel/hostname', 'net/kernel/hostname'], // dots are separators: ".." cannot climb
  ])('%s resolves to /proc/sys/%s', (raw, rel) => {
    expect(parseSysctlKey(raw, 'eth0.100')).toEqual({ rel, path: `/proc/sys/${rel}` });
  });

  it.each(['kernel.hostname', 'net', '/proc/sys/net/ipv4/ip_forward', 'vm/../net/core/somaxconn', 'net.core.x\u0000y'])(
    '%j is refused with code 7, nothing resolved',
    (raw) => {
      const e = caught(() => parseSysctlKey(raw, 'eth0'));
      expect(e.code).toBe(7);
      expect(e.msg).toBe(`invalid net sysctl key: ${JSON.stringify(raw)}`);
    },
  );

  it('stored keys are checked again before being written back', () => {
    expect(parseStoredKey('net/core/somaxconn')).toEqual({
      rel: 'net/core/somaxconn',
      path: '/proc/sys/net/core/somaxconn',
    });
    expect(parseStoredKey('net/ipv4/conf/eth0.100/rp_filter')?.rel).toBe('net/ipv4/conf/eth0.100/rp_filter');
    for (const bad of ['kernel/hostname', 'net/../kernel', 'net//core', '/net/core', 'net'])
      expect(parseStoredKey(bad)).toBeUndefined();
  });

  it('values compare by words (the kernel reads back tabs)', () => {
    expect(sameSysctlValue('4096 131072 6291456', '4096\t131072\t6291456')).toBe(true);
    expect(sameSysctlValue('1', '2')).toBe(false);
  });

  function fakeFs(
    kinds: Record<string, SysctlKind>,
    values: Record<string, string> = {},
  ): SysctlFs & { writes: string[] } {
    const writes: string[] = [];
    return {
      writes,
      kind: (p) => kinds[p] ?? 'missing',
      read: (p) => values[p] ?? '0',
      write: (p, v) => {
        if (kinds[p] !== 'writable') throw new Error(`EACCES ${p}`);
        writes.push(`${p}=${v}`);
        values[p] = v;
      },
    };
  }

  it('only sysctls the container namespace has and may write are accepted', () => {
    const fs = fakeFs({
      '/proc/sys/net/core/somaxconn': 'writable',
      '/proc/sys/net/core/rmem_max': 'readonly',
      '/proc/sys/net/core/wmem_max': 'readonly',
      '/proc/sys/net/ipv4/conf': 'directory',
    });
    const key = (raw: string): ReturnType<typeof parseSysctlKey> => parseSysctlKey(raw, 'eth0');
    expect(() => checkNamespaced(fs, [key('net.core.somaxconn')])).not.toThrow();
    expect(caught(() => checkNamespaced(fs, [key('net.core.rmem_max')]))).toMatchObject({
      code: 7,
      msg: 'cannot set sysctl /proc/sys/net/core/rmem_max: it is not per network namespace (read-only in the container network namespace)',
    });
    expect(caught(() => checkNamespaced(fs, [key('net.core.nope')])).msg).toMatch(/no such sysctl/);
    expect(caught(() => checkNamespaced(fs, [key('net.ipv4.conf')])).msg).toMatch(/directory/);
  });

  it('refuses sysctls when the "container" namespace is the initial one', () => {
    const fs = fakeFs({ '/proc/sys/net/core/somaxconn': 'writable', '/proc/sys/net/core/wmem_max': 'writable' });
    expect(caught(() => checkNamespaced(fs, [parseSysctlKey('net.core.somaxconn', 'eth0')])).msg).toMatch(
      /initial \(host\) namespace/,
    );
    expect(() => checkNamespaced(fs, [])).not.toThrow();
  });
});

describe('the allow-list (/etc/cni/tuning/allowlist.conf)', () => {
  it('no file: everything allowed', () => {
    expect(readAllowlist(join(tmp(), 'none.conf'))).toBeUndefined();
    expect(() => checkAllowlist(['net.core.somaxconn'], undefined)).not.toThrow();
  });

  it('one pattern per line, searched in the key as written; the reference message', () => {
    const f = join(tmp(), 'allowlist.conf');
    writeFileSync(f, '^net\\.core\\.somaxconn$\n\n  ^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]+$  \n');
    const p = readAllowlist(f);
    expect(p?.map((r) => r.source)).toEqual(['^net\\.core\\.somaxconn$', '^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]+$']);
    expect(() => checkAllowlist(['net.core.somaxconn', 'net.ipv4.conf.IFNAME.rp_filter'], p)).not.toThrow();
    expect(caught(() => checkAllowlist(['net.ipv4.ip_forward'], p))).toMatchObject({
      code: 7,
      msg: 'Sysctl net.ipv4.ip_forward is not allowed. Only the following sysctls are allowed: [^net\\.core\\.somaxconn$ ^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]+$]',
    });
  });

  it('an invalid pattern is an error naming the line', () => {
    const f = join(tmp(), 'allowlist.conf');
    writeFileSync(f, 'ok\n(unclosed\n');
    expect(caught(() => readAllowlist(f)).msg).toBe(`invalid pattern on line 2 of ${f}`);
  });
});

describe('state file', () => {
  it('reads what the reference writes', () => {
    const ref = '{\n "mac": "8a:37:d4:5c:07:6a",\n "promisc": false,\n "mtu": 1500,\n "allmulti": false\n}';
    expect(decodeRecord('c_eth0.json', ref)).toEqual({
      mac: '8a:37:d4:5c:07:6a',
      promisc: false,
      mtu: 1500,
      allmulti: false,
    });
  });

  it('writes the reference layout, with tscni’s additions under one key the reference ignores', () => {
    const text = encodeRecord({
      mtu: 1500,
      mac: '02:00:00:00:00:01',
      txQLen: 1000,
      network: 'tnet',
      sysctls: [['net/core/somaxconn', '4096']],
    });
    expect(text).toBe(
      '{\n "mac": "02:00:00:00:00:01",\n "mtu": 1500,\n "txQLen": 1000,\n "tscni": {\n  "network": "tnet",\n  "sysctl": {\n   "net/core/somaxconn": "4096"\n  }\n }\n}',
    );
    expect(decodeRecord('x', text)).toEqual({
      mac: '02:00:00:00:00:01',
      mtu: 1500,
      txQLen: 1000,
      network: 'tnet',
      sysctls: [['net/core/somaxconn', '4096']],
    });
    expect(encodeRecord({ mtu: 1500 })).toBe('{\n "mtu": 1500\n}');
  });

  it('an unreadable record is a StateFileError', () => {
    expect(() => decodeRecord('x', '{')).toThrow('tuning state x is unreadable');
    expect(() => decodeRecord('x', '{"mtu":"big"}')).toThrow('tuning state x is unreadable');
  });

  it('a repeated ADD keeps the first originals', () => {
    const merged = mergeRecords(
      { mtu: 1500, network: 'tnet', sysctls: [['net/core/somaxconn', '4096']] },
      {
        mtu: 9000,
        mac: '02:00:00:00:00:09',
        network: 'tnet',
        sysctls: [
          ['net/core/somaxconn', '1'],
          ['net/ipv4/ip_forward', '0'],
        ],
      },
    );
    expect(merged).toEqual({
      mtu: 1500,
      mac: '02:00:00:00:00:09',
      network: 'tnet',
      sysctls: [
        ['net/core/somaxconn', '4096'],
        ['net/ipv4/ip_forward', '0'],
      ],
    });
  });
});

describe('ADD, DEL and CHECK on a recording socket, a fake /proc/sys and a memory store', () => {
  const eth0 = (o: Partial<Parameters<typeof cannedLink>[0]> = {}): ReturnType<typeof cannedLink> =>
    cannedLink({ index: 2, name: 'eth0', mtu: 1500, mac: '0a:00:00:00:00:01', txqlen: 1000, ...o });
  const at = { network: 'tnet', ifName: 'eth0', record: recordName('c1', 'eth0') };
  const SOMAXCONN = '/proc/sys/net/core/somaxconn';
  const RPF = '/proc/sys/net/ipv4/conf/eth0/rp_filter';

  function world(...responders: Responder[]): {
    sock: RecordingSocket;
    rtnl: Rtnl;
    values: Record<string, string>;
    sysctl: SysctlFs;
    store: ReturnType<typeof memoryStore>;
  } {
    const sock = new RecordingSocket().respond(...responders);
    const values: Record<string, string> = { [SOMAXCONN]: '4096', [RPF]: '0', '/proc/sys/net/core/wmem_max': '1' };
    const sysctl: SysctlFs = {
      kind: (p) => (p.endsWith('wmem_max') ? 'readonly' : p in values ? 'writable' : 'missing'),
      read: (p) => values[p] ?? '',
      write: (p, v) => {
        if (v === 'bad') throw new Error('EINVAL: invalid argument, write');
        values[p] = v;
      },
    };
    return { sock, rtnl: new Rtnl(sock), values, sysctl, store: memoryStore() };
  }
  const cfg = (c: Record<string, unknown>): TuningConfig =>
    loadTuningConfig({ ...base, ...c }, '', 'eth0', Buffer.from(JSON.stringify({ ...base, ...c })));

  it('records the originals first, then sets sysctls and each attribute in its own request', () => {
    const w = world(reply.messages(eth0()));
    applyTuning(
      w,
      cfg({
        mac: '02:00:00:00:00:99',
        mtu: 9000,
        promisc: true,
        allmulti: true,
        txQLen: 500,
        sysctl: { 'net.core.somaxconn': '100' },
      }),
      at,
    );
    expect(w.sock.requests).toEqual([
      'RTM_GETLINK name=eth0',
      'RTM_SETLINK index=2 mac=02:00:00:00:00:99',
      'RTM_SETLINK index=2 promisc=on',
      'RTM_SETLINK index=2 mtu=9000',
      'RTM_SETLINK index=2 allmulti=on',
      'RTM_SETLINK index=2 txqlen=500',
    ]);
    expect(w.values[SOMAXCONN]).toBe('100');
    expect(decodeRecord('x', w.store.files.get('c1_eth0.json') ?? '')).toEqual({
      mac: '0a:00:00:00:00:01',
      promisc: false,
      mtu: 1500,
      allmulti: false,
      txQLen: 1000,
      network: 'tnet',
      sysctls: [['net/core/somaxconn', '4096']],
    });
  });

  it('sysctls only: the interface is not even looked up', () => {
    const w = world();
    applyTuning(w, cfg({ sysctl: { 'net.ipv4.conf.IFNAME.rp_filter': '2' } }), at);
    expect(w.sock.requests).toEqual([]);
    expect(w.values[RPF]).toBe('2');
  });

  it('nothing to change: nothing recorded', () => {
    const w = world();
    applyTuning(w, cfg({}), at);
    expect(w.store.files.size).toBe(0);
  });

  it('a refused attribute puts back everything already changed and leaves no record', () => {
    const w = world(reply.messages(eth0()), reply.ack(), reply.error('EINVAL', 'mtu less than device minimum'));
    const e = caught(() =>
      applyTuning(w, cfg({ mac: '02:00:00:00:00:99', mtu: 10, sysctl: { 'net.core.somaxconn': '100' } }), at),
    );
    expect(e.msg).toMatch(/^failed to set MTU of eth0 to 10: .*mtu less than device minimum/);
    expect(w.sock.requests).toEqual([
      'RTM_GETLINK name=eth0',
      'RTM_SETLINK index=2 mac=02:00:00:00:00:99',
      'RTM_SETLINK index=2 mtu=10',
      // rollback: the recorded originals
      'RTM_SETLINK index=2 mtu=1500',
      'RTM_SETLINK index=2 mac=0a:00:00:00:00:01',
    ]);
    expect(w.values[SOMAXCONN]).toBe('4096');
    expect(w.store.files.size).toBe(0);
  });

  it('a refused sysctl value rolls back the earlier ones; a bad key changes nothing at all', () => {
    const w = world();
    const e = caught(() =>
      applyTuning(w, cfg({ sysctl: { 'net.core.somaxconn': '100', 'net.ipv4.conf.eth0.rp_filter': 'bad' } }), at),
    );
    expect(e.msg).toBe(`failed to set sysctl ${RPF} to "bad": EINVAL: invalid argument, write`);
    expect(w.values[SOMAXCONN]).toBe('4096');
    const w2 = world();
    expect(caught(() => applyTuning(w2, cfg({ mtu: 9000, sysctl: { 'net.core.wmem_max': '1' } }), at)).code).toBe(7);
    expect(w2.sock.requests).toEqual([]);
    expect(w2.store.files.size).toBe(0);
  });

  it('a missing interface is the reference’s error, before any change', () => {
    const w = world(reply.error('ENODEV'));
    expect(caught(() => applyTuning(w, cfg({ mtu: 9000, sysctl: { 'net.core.somaxconn': '1' } }), at)).msg).toBe(
      'failed to get "eth0": Link not found',
    );
    expect(w.values[SOMAXCONN]).toBe('4096');
  });

  it('DEL restores the interface in the reference order, then the sysctls', () => {
    const w = world(reply.messages(eth0({ mtu: 9000 })));
    w.values[SOMAXCONN] = '100';
    const failed = restoreTuning(w, at, {
      mac: '0a:00:00:00:00:01',
      promisc: false,
      mtu: 1500,
      allmulti: false,
      txQLen: 1000,
      sysctls: [['net/core/somaxconn', '4096']],
    });
    expect(failed).toBeUndefined();
    expect(w.sock.requests).toEqual([
      'RTM_GETLINK name=eth0',
      'RTM_SETLINK index=2 mtu=1500',
      'RTM_SETLINK index=2 mac=0a:00:00:00:00:01',
      'RTM_SETLINK index=2 promisc=off',
      'RTM_SETLINK index=2 allmulti=off',
      'RTM_SETLINK index=2 txqlen=1000',
    ]);
    expect(w.values[SOMAXCONN]).toBe('4096');
  });

  it('DEL without the interface restores the sysctls only; a tampered key is refused', () => {
    const w = world(reply.error('ENODEV'));
    w.values[SOMAXCONN] = '100';
    const failed = restoreTuning(w, at, {
      mtu: 1500,
      sysctls: [
        ['kernel/hostname', 'x'],
        ['net/core/somaxconn', '4096'],
      ],
    });
    expect(failed?.toJSON()).toEqual({
      code: 999,
      msg: 'refusing to restore sysctl "kernel/hostname": not a net sysctl',
    });
    expect(w.values[SOMAXCONN]).toBe('4096');
  });

  it('CHECK compares every configured value with the reference’s messages', () => {
    const tuned = eth0({ mac: '02:00:00:00:00:99', mtu: 9000, flags: IFF_PROMISC | IFF_ALLMULTI, txqlen: 500 });
    const c = cfg({
      mac: '02:00:00:00:00:99',
      mtu: 9000,
      promisc: true,
      allmulti: true,
      txQLen: 500,
      sysctl: { 'net.core.somaxconn': '4096' },
    });
    expect(() => checkTuning(world(reply.messages(tuned)), c, 'eth0')).not.toThrow();
    const cases: Array<[Record<string, unknown>, string]> = [
      [
        { sysctl: { 'net.core.somaxconn': '1' } },
        `Error: Tuning configured value of ${SOMAXCONN} is 1, current value is 4096`,
      ],
      [
        { mac: '02:00:00:00:00:01' },
        'Error: Tuning configured Ethernet of eth0 is 02:00:00:00:00:01, current value is 02:00:00:00:00:99',
      ],
      [{ mtu: 1500 }, 'Error: Tuning configured MTU of eth0 is 1500, current value is 9000'],
      [{ allmulti: false }, 'Error: Tuning configured all-multicast mode of eth0 is false, current value is true'],
      [{ txQLen: 1000 }, 'Error: Tuning configured Transmit Queue Length of eth0 is 1000, current value is 500'],
    ];
    for (const [over, msg] of cases)
      expect(caught(() => checkTuning(world(reply.messages(tuned)), cfg(over), 'eth0')).msg).toBe(msg);
    expect(caught(() => checkTuning(world(reply.messages(eth0())), cfg({ promisc: true }), 'eth0')).msg).toBe(
      'Error: Tuning link eth0 configured promisc is true, current value is 0',
    );
    expect(caught(() => checkTuning(world(reply.error('ENODEV')), cfg({}), 'eth0')).msg).toBe(
      'Cannot find container link eth0',
    );
  });
});

describe('verbs through the dispatcher (no namespace needed)', () => {
  async function call(
    command: string,
    conf: object,
    env: Record<string, string> = {},
  ): Promise<{ code: number; out: string }> {
    let out = '';
    const code = await dispatch(PLUGINS['tuning']!, {
      env: { CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_PATH: '/x', ...env },
      readStdin: async () => Buffer.from(JSON.stringify(conf)),
      stdout: (t) => void (out += t),
      stderr: () => undefined,
    });
    return { code, out };
  }

  it('ADD without prevResult is refused before anything is touched', async () => {
    const r = await call('ADD', { ...base, mtu: 1400 }, { CNI_NETNS: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ code: 7, msg: 'Required prevResult missing' });
  });

  it('ADD with a forbidden sysctl fails on the allow-list before the namespace is opened', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'allow'), '^net\\.core\\.somaxconn$\n');
    const r = await call(
      'ADD',
      { ...base, sysctl: { 'net.ipv4.ip_forward': '1' }, prevResult: { cniVersion: '1.0.0' } },
      { CNI_NETNS: '/nonexistent', TSCNI_TUNING_ALLOWLIST: join(dir, 'allow') },
    );
    expect(JSON.parse(r.out)).toMatchObject({
      code: 7,
      msg: expect.stringMatching(/^Sysctl net.ipv4.ip_forward is not allowed/) as unknown as string,
    });
  });

  it('DEL without a namespace forgets the record (the reference keeps it forever); DEL again is fine', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'c1_eth0.json'), '{\n "mtu": 1500\n}');
    expect((await call('DEL', { ...base, dataDir: dir })).code).toBe(0);
    expect(existsSync(join(dir, 'c1_eth0.json'))).toBe(false);
    expect((await call('DEL', { ...base, dataDir: dir })).code).toBe(0);
    expect((await call('DEL', { ...base, dataDir: dir }, { CNI_NETNS: '/run/netns/gone-for-good' })).code).toBe(0);
  });

  it('DEL removes an unreadable record instead of failing forever', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'c1_eth0.json'), 'garbage');
    expect((await call('DEL', { ...base, dataDir: dir })).code).toBe(0);
    expect(existsSync(join(dir, 'c1_eth0.json'))).toBe(false);
  });

  it('GC forgets only this network’s records of attachments that are no longer valid', async () => {
    const dir = tmp();
    const files = {
      'keep_eth0.json': '{"mtu":1500,"tscni":{"network":"tnet"}}',
      'stale_eth0.json': '{"mtu":1500,"tscni":{"network":"tnet"}}',
      'other_eth0.json': '{"mtu":1500,"tscni":{"network":"othernet"}}',
      'reference_eth0.json': '{"mtu":1500}',
    };
    for (const [f, t] of Object.entries(files)) writeFileSync(join(dir, f), t);
    const conf = { ...base, cniVersion: '1.1.0', dataDir: dir };
    expect((await call('GC', conf)).code).toBe(0);
    expect(existsSync(join(dir, 'stale_eth0.json'))).toBe(true); // no attachment list: nothing removed
    const valid = { 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }] };
    expect((await call('GC', { ...conf, ...valid })).code).toBe(0);
    expect(['keep', 'stale', 'other', 'reference'].map((n) => existsSync(join(dir, `${n}_eth0.json`)))).toEqual([
      true,
      false,
      true,
      true,
    ]);
    expect(readFileSync(join(dir, 'keep_eth0.json'), 'utf8')).toBe(files['keep_eth0.json']);
  });

  it('STATUS: ready when the state directory can be written, code 50 when it cannot', async () => {
    const dir = tmp();
    expect((await call('STATUS', { ...base, cniVersion: '1.1.0', dataDir: join(dir, 'a', 'b') })).code).toBe(0);
    writeFileSync(join(dir, 'file'), '');
    const r = await call('STATUS', { ...base, cniVersion: '1.1.0', dataDir: join(dir, 'file', 'sub') });
    expect(JSON.parse(r.out)).toMatchObject({ code: 50 });
  });
});

describe('duplicate sysctl keys', () => {
  it('scans without recursion: 100,000 levels inside sysctl do not exhaust the stack (issue 20 row 8)', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(duplicateSysctlKey(`{"sysctl":{"a":${deep},"a":1}}`)).toBe('a');
    expect(duplicateSysctlKey(`{"sysctl":{"a":${deep}}}`)).toBeUndefined();
  });
  it.each([
    ['{"sysctl":{"a":"1","a":"2"}}', 'a'],
    ['{"cniVersion":"1.0.0","SysCtl":{"a":"1","b":{"x":[1,"a",{"a":1,"a":2}]},"c\\u002e":"","c.":"2"}}', 'c.'],
    [' { "name" : "n" , "sysctl" : { "a\\"b" : "1" , "a\\"b" : "2" } } ', 'a"b'],
  ])('%s repeats %j', (text, key) => {
    expect(duplicateSysctlKey(text)).toBe(key);
  });

  it.each([
    '{"sysctl":{"a":"1","b":"2"}}',
    '{"args":{"cni":{"sysctl":{"a":"1"}}},"sysctl":{"a":"1"}}',
    '{"other":{"a":1,"a":2},"sysctl":{}}',
    '{"sysctl":null,"x":[{},[],"}",-1.5e3,true]}',
    '[]',
    '{}',
  ])('%s has none', (text) => {
    expect(duplicateSysctlKey(text)).toBeUndefined();
  });

  it('a config repeating a sysctl key is refused (code 7), as the reference does', () => {
    const text =
      '{"cniVersion":"1.0.0","name":"tnet","type":"tuning","sysctl":{"net.core.somaxconn":"1","net.core.somaxconn":"2"}}';
    const i = { ...inv(JSON.parse(text) as Record<string, unknown>), stdin: Buffer.from(text) };
    expect(caught(() => loadTuningConfig(i.config, i.cniArgs, i.ifName, i.stdin))).toMatchObject({
      code: 7,
      msg: 'duplicated sysctl keys are not allowed',
      details: 'net.core.somaxconn',
    });
  });
});
