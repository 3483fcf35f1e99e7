/** tap configuration: the reference's keys and defaults, MAC precedence, and what is refused. */
import { describe, expect, it } from '@jest/globals';
import { CniError } from '../../lib/cni/errors';
import { invocation } from '../../lib/testutil/invocation';
import { loadTapConfig } from './config';

const load = (extra: Record<string, unknown> = {}, cniArgs = ''): ReturnType<typeof loadTapConfig> =>
  loadTapConfig(invocation({ cniVersion: '1.0.0', name: 'tapnet', type: 'tap', ...extra }, { cniArgs }));
const codeOf = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof CniError ? e.code : -1;
  }
  return undefined;
};

describe('tap config', () => {
  it('defaults: one queue, no owner or group, no bridge, layer 2 without IPAM', () => {
    expect(load()).toEqual({
      mac: undefined,
      mtu: 0,
      multiQueue: false,
      owner: undefined,
      group: undefined,
      bridge: '',
      ipamType: '',
      dns: undefined,
    });
  });

  it('every key, in any case (Go matches keys that way)', () => {
    expect(
      load({
        MAC: '02:AA:bb:cc:dd:ee',
        mtu: 9000,
        multiqueue: true,
        owner: 0,
        Group: 4294967294,
        bridge: 'br0',
        ipam: { type: 'host-local' },
        dns: { nameservers: ['10.0.0.53'] },
      }),
    ).toEqual({
      mac: '02:aa:bb:cc:dd:ee',
      mtu: 9000,
      multiQueue: true,
      owner: 0,
      group: 4294967294,
      bridge: 'br0',
      ipamType: 'host-local',
      dns: { nameservers: ['10.0.0.53'] },
    });
  });

  it('MAC: the key, overridden by CNI_ARGS MAC=, overridden by runtimeConfig.mac', () => {
    expect(load({ mac: '02:00:00:00:00:01' }).mac).toBe('02:00:00:00:00:01');
    expect(load({ mac: '02:00:00:00:00:01' }, 'IgnoreUnknown=1;MAC=02:00:00:00:00:02').mac).toBe('02:00:00:00:00:02');
    expect(
      load({ mac: '02:00:00:00:00:01', runtimeConfig: { mac: '02:00:00:00:00:03' } }, 'MAC=02:00:00:00:00:02').mac,
    ).toBe('02:00:00:00:00:03');
  });

  it.each<[string, Record<string, unknown>, number, string]>([
    ['a bad MAC', { mac: 'zz:00' }, 7, 'invalid args zz:00 for MAC addr'],
    ['a negative MTU', { mtu: -1 }, 7, 'invalid MTU -1'],
    ['owner -1 (no owner to the kernel)', { owner: 4294967295 }, 7, 'invalid owner 4294967295'],
    ['a negative group', { group: -5 }, 7, 'invalid tap configuration'],
    ['a bridge name with a slash', { bridge: 'a/b' }, 7, 'invalid bridge name "a/b"'],
    ['multiQueue as a string', { multiQueue: 'yes' }, 7, 'invalid tap configuration'],
    ['an SELinux label', { selinuxContext: 'system_u:system_r:container_t:s0' }, 2, 'selinuxContext is not supported'],
  ])('%s is refused', (_what, extra, code, msg) => {
    expect(() => load(extra)).toThrow(msg);
    expect(codeOf(() => load(extra))).toBe(code);
  });

  it('unknown CNI_ARGS are the reference error unless IgnoreUnknown', () => {
    expect(() => load({}, 'FOO=bar')).toThrow('ARGS: unknown args');
    expect(load({}, 'IgnoreUnknown=true;FOO=bar').mac).toBeUndefined();
  });
});
