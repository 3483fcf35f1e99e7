/**
 * tuning configuration: the reference's keys and their precedence (own keys, CNI_ARGS,
 * runtimeConfig, args.cni), sysctl keys resolved per interface, the exact error texts and paths;
 * DEL's loader reads only the state directory.
 */
import { describe, expect, it } from '@jest/globals';
import { cniErrorOf } from '../../lib/testutil/errors';
import { invocation } from '../../lib/testutil/invocation';
import type { Invocation } from '../../lib/cni/invocation';
import { DEFAULT_DATA_DIR, loadDataDir, loadTuningConfig, parseMacAddress, type TuningConfig } from './config';

const base = { cniVersion: '1.0.0', name: 'tnet', type: 'tuning' };
const inv = (
  config: Record<string, unknown>,
  o: { ifName?: string; cniArgs?: string; command?: 'ADD' | 'DEL' } = {},
): ReturnType<typeof invocation> => invocation(config, o);
const caught = cniErrorOf;
/** The loaders as the verbs call them. */
const loadFrom = (i: Invocation): TuningConfig => loadTuningConfig(i.config, i.cniArgs, i.ifName, i.stdin);
const dataDirOf = (i: Invocation): string => loadDataDir(i.config, i.command === 'DEL' ? i.cniArgs : undefined);

describe('tuning config', () => {
  it('defaults: nothing to change, the reference state directory', () => {
    expect(loadFrom(inv(base))).toEqual({
      dataDir: '/run/cni/tuning',
      sysctls: [],
      mac: undefined,
      promisc: false,
      mtu: undefined,
      allmulti: undefined,
      txQLen: undefined,
    });
  });

  it('MAC precedence: own key < CNI_ARGS MAC < runtimeConfig.mac < args.cni.mac (the reference order)', () => {
    const c = { ...base, mac: '02:00:00:00:00:01' };
    expect(loadFrom(inv(c)).mac).toBe('02:00:00:00:00:01');
    expect(loadFrom(inv(c, { cniArgs: 'IgnoreUnknown=1;MAC=02:00:00:00:00:02' })).mac).toBe('02:00:00:00:00:02');
    const rc = { ...c, runtimeConfig: { mac: '02:00:00:00:00:03' } };
    expect(loadFrom(inv(rc, { cniArgs: 'MAC=02:00:00:00:00:02' })).mac).toBe('02:00:00:00:00:03');
    const ar = { ...rc, args: { cni: { mac: '02:00:00:00:00:04' } } };
    expect(loadFrom(inv(ar)).mac).toBe('02:00:00:00:00:04');
  });

  it('args.cni overrides and merges sysctls over the plugin keys', () => {
    const c = loadFrom(
      inv({
        ...base,
        mtu: 1400,
        promisc: true,
        sysctl: { 'net.core.somaxconn': '100', 'net.ipv4.ip_forward': '1' },
        args: {
          cni: { mtu: 9000, promisc: false, allmulti: true, txQLen: 0, sysctl: { 'net.core.somaxconn': '200' } },
        },
      }),
    );
    expect(c.sysctls.map((s) => [s.raw, s.value])).toEqual([
      ['net.core.somaxconn', '200'],
      ['net.ipv4.ip_forward', '1'],
    ]);
    expect(c).toMatchObject({ mtu: 9000, promisc: false, allmulti: true, txQLen: 0 });
  });

  it('keys match case-insensitively like Go; types are strict (code 7 naming the key)', () => {
    expect(loadFrom(inv({ ...base, MTU: 1400, TxQLen: 10 }))).toMatchObject({ mtu: 1400, txQLen: 10 });
    expect(caught(() => loadFrom(inv({ ...base, mtu: '1400' })))).toEqual({
      code: 7,
      msg: 'invalid tuning configuration',
      details: 'mtu: expected integer, got string "1400"',
    });
    expect(caught(() => loadFrom(inv({ ...base, sysctl: { 'net.core.somaxconn': 5 } })))).toEqual({
      code: 7,
      msg: 'invalid tuning configuration',
      details: 'sysctl.net.core.somaxconn: expected string, got number',
    });
    expect(caught(() => loadFrom(inv({ ...base, sysctl: ['net.core.somaxconn'] }))).details).toBe(
      'sysctl: expected object, got array',
    );
    expect(caught(() => loadFrom(inv({ ...base, args: { cni: { promisc: 'on' } } }))).details).toBe(
      'args.cni.promisc: expected boolean, got string "on"',
    );
  });

  it('rejects negative or oversized numbers and malformed MACs (code 7)', () => {
    for (const bad of [{ mtu: -1 }, { txQLen: -1 }, { txQLen: 2 ** 32 }, { mac: 'zz' }, { mac: '01:02:03' }])
      expect(caught(() => loadFrom(inv({ ...base, ...bad }))).code).toBe(7);
    expect(caught(() => loadFrom(inv({ ...base, mtu: -1 })))).toEqual({
      code: 7,
      msg: 'invalid MTU -1: must be between 0 and 2147483647',
    });
    expect(caught(() => loadFrom(inv({ ...base, txQLen: 2 ** 32 }))).msg).toBe(
      'invalid txQLen 4294967296: must be between 0 and 4294967295',
    );
    expect(caught(() => loadFrom(inv({ ...base, mac: 'zz' }))).msg).toBe(
      'invalid args zz for MAC addr: address zz: invalid MAC address',
    );
  });

  it('MACs in every spelling Go accepts, normalised', () => {
    for (const m of ['C2:11:22:33:44:55', 'c2-11-22-33-44-55', 'c211.2233.4455'])
      expect(parseMacAddress(m)).toBe('c2:11:22:33:44:55');
  });

  it('unknown CNI_ARGS fail as in the reference, unless IgnoreUnknown', () => {
    expect(caught(() => loadFrom(inv(base, { cniArgs: 'K8S_POD_NAME=x' }))).msg).toBe(
      'ARGS: unknown args ["K8S_POD_NAME=x"]',
    );
    expect(() => loadFrom(inv(base, { cniArgs: 'IgnoreUnknown=1;K8S_POD_NAME=x' }))).not.toThrow();
  });

  it('DEL needs only the state directory: settings it does not apply cannot fail it', () => {
    const c = { ...base, dataDir: '/tmp/x', mac: 'zz', sysctl: { 'kernel.hostname': 'x' } };
    expect(dataDirOf(inv(c, { command: 'DEL' }))).toBe('/tmp/x');
  });
});

describe('duplicate sysctl keys in the raw text', () => {
  it('are refused as the reference (v1.2.0+) does, naming the key', () => {
    const text = '{"cniVersion":"1.0.0","name":"tnet","sysctl":{"net.core.somaxconn":"1","net.core.somaxconn":"2"}}';
    const i = { ...inv(JSON.parse(text) as Record<string, unknown>), stdin: Buffer.from(text) };
    expect(caught(() => loadFrom(i))).toEqual({
      code: 7,
      msg: 'duplicated sysctl keys are not allowed',
      details: 'net.core.somaxconn',
    });
  });
});

describe('the state directory', () => {
  it('the reference default, or dataDir; DEL refuses unknown CNI_ARGS as the reference does', () => {
    expect(dataDirOf(inv(base))).toBe(DEFAULT_DATA_DIR);
    expect(dataDirOf(inv({ ...base, DataDir: '/tmp/t' }))).toBe('/tmp/t');
    expect(caught(() => dataDirOf(inv(base, { command: 'DEL', cniArgs: 'X=1' })))).toEqual({
      code: 999,
      msg: 'ARGS: unknown args ["X=1"]',
    });
    expect(caught(() => dataDirOf(inv({ ...base, dataDir: 5 })))).toEqual({
      code: 7,
      msg: 'invalid tuning configuration',
      details: 'dataDir: expected string, got number',
    });
  });
});
