/** macvlan configuration: the reference's keys, defaults, MAC precedence and messages; our `vlan` key. */
import { describe, expect, it } from '@jest/globals';
import { CniError } from '../../lib/cni/errors';
import { cniErrorOf } from '../../lib/testutil/errors';
import { loadMacvlanConfig, loadMacvlanDelConfig } from './config';

const conf = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'mvnet',
  type: 'macvlan',
  master: 'eth0',
  ...extra,
});
const load = (extra: Record<string, unknown> = {}, cniArgs = ''): ReturnType<typeof loadMacvlanConfig> =>
  loadMacvlanConfig(conf(extra), cniArgs);
const codeOf = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof CniError ? e.code : -1;
  }
  return undefined;
};

describe('macvlan config', () => {
  it('defaults: bridge mode, master MTU, no MAC, layer 2 without IPAM', () => {
    expect(loadMacvlanConfig({ cniVersion: '1.0.0', name: 'n', type: 'macvlan' })).toEqual({
      kind: 'macvlan',
      master: '',
      vlan: 0,
      mode: 'bridge',
      mtu: 0,
      mac: undefined,
      bcQueueLen: undefined,
      linkInContainer: false,
      ipamType: '',
      dns: undefined,
    });
  });

  it.each(['bridge', 'private', 'vepa', 'passthru'])('mode %s', (mode) => {
    expect(load({ mode }).mode).toBe(mode);
  });

  it('an unknown mode is the reference message, as code 7', () => {
    expect(() => load({ mode: 'source' })).toThrow('unknown macvlan mode: "source"');
    expect(codeOf(() => load({ mode: 'weird' }))).toBe(7);
  });

  it('keys match like Go: any case; wrong types are decode errors', () => {
    const raw = { cniVersion: '1.0.0', name: 'n', MODE: 'vepa', Master: 'ens3', MTU: 1400, LinkInContainer: true };
    expect(loadMacvlanConfig(raw)).toMatchObject({
      mode: 'vepa',
      master: 'ens3',
      mtu: 1400,
      linkInContainer: true,
    });
    expect(cniErrorOf(() => load({ mtu: '1400' }))).toEqual({
      code: 7,
      msg: 'invalid macvlan configuration',
      details: 'mtu: expected integer, got string "1400"',
    });
    expect(cniErrorOf(() => load({ linkInContainer: 'true' })).details).toBe(
      'linkInContainer: expected boolean, got string "true"',
    );
    expect(cniErrorOf(() => load({ runtimeConfig: { mac: 1 } })).details).toBe(
      'runtimeConfig.mac: expected string, got number',
    );
  });

  it('MAC: runtimeConfig over CNI_ARGS over the mac key, lower-cased; a bad one is the reference message', () => {
    expect(load({ mac: '02:00:00:00:00:0A' }).mac).toBe('02:00:00:00:00:0a');
    expect(load({ mac: '02:00:00:00:00:0a' }, 'MAC=02:00:00:00:00:0b').mac).toBe('02:00:00:00:00:0b');
    expect(
      load({ mac: '02:00:00:00:00:0a', runtimeConfig: { mac: '02:00:00:00:00:0c' } }, 'MAC=02:00:00:00:00:0b').mac,
    ).toBe('02:00:00:00:00:0c');
    expect(() => load({ mac: 'zz' })).toThrow('invalid args zz for MAC addr: address zz: invalid MAC address');
    expect(() => load({}, 'FOO=1')).toThrow('ARGS: unknown args ["FOO=1"]');
    expect(load({}, 'IgnoreUnknown=1;FOO=1').mac).toBeUndefined();
  });

  it('IPAM type, DNS, bcqueuelen', () => {
    const c = load({ ipam: { type: 'host-local' }, dns: { nameservers: ['10.0.0.53'] }, bcqueuelen: 100 });
    expect(c).toMatchObject({ ipamType: 'host-local', dns: { nameservers: ['10.0.0.53'] }, bcQueueLen: 100 });
    expect(load({ dns: {} }).dns).toBeUndefined();
    expect(cniErrorOf(() => load({ bcqueuelen: -1 })).details).toBe(
      'bcqueuelen: expected non-negative integer, got number',
    );
    expect(cniErrorOf(() => load({ bcqueuelen: 2 ** 32 }))).toEqual({ code: 7, msg: 'invalid bcqueuelen 4294967296' });
  });

  it('the vlan key: 1–4094, not with linkInContainer, and a master name that stays a link name', () => {
    expect(load({ vlan: 10 }).vlan).toBe(10);
    expect(() => load({ vlan: 0 })).toThrow('invalid VLAN ID 0 (must be between 1 and 4094)');
    expect(() => load({ vlan: 4095 })).toThrow('invalid VLAN ID 4095');
    expect(codeOf(() => load({ vlan: 5000 }))).toBe(7);
    expect(() => load({ vlan: 10, linkInContainer: true })).toThrow('"vlan" cannot be used with "linkInContainer"');
    expect(() => load({ master: 'a/b' })).toThrow('invalid master name "a/b"');
    expect(() => load({ master: 'enx001122334455', vlan: 10 })).toThrow('invalid VLAN sub-interface name');
  });

  it('DEL reads only what it needs, so a config ADD rejected can still be deleted', () => {
    const c = conf({ mode: 'weird', vlan: 99999, ipam: { type: 'host-local' } });
    expect(loadMacvlanDelConfig(c)).toEqual({ ipamType: 'host-local', linkInContainer: false });
  });
});
