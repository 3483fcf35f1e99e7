/** vlan configuration: the reference's keys, defaults and messages. */
import { describe, expect, it } from '@jest/globals';
import { CniError } from '../../lib/cni/errors';
import { invocation } from '../../lib/testutil/invocation';
import { loadVlanConfig, requireIpam } from './config';

const load = (extra: Record<string, unknown> = {}): ReturnType<typeof loadVlanConfig> =>
  loadVlanConfig(invocation({ cniVersion: '1.0.0', name: 'vlnet', type: 'vlan', master: 'eth0', ...extra }));
const codeOf = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof CniError ? e.code : -1;
  }
  return undefined;
};

describe('vlan config', () => {
  it('defaults: VLAN 0, the master MTU, master in the host', () => {
    expect(load({ ipam: { type: 'host-local' } })).toEqual({
      master: 'eth0',
      vlanId: 0,
      mtu: 0,
      linkInContainer: false,
      ipamType: 'host-local',
      dns: undefined,
    });
  });

  it('every key', () => {
    expect(load({ vlanId: 4094, mtu: 1400, linkInContainer: true, dns: { domain: 'x' } })).toMatchObject({
      vlanId: 4094,
      mtu: 1400,
      linkInContainer: true,
      dns: { domain: 'x' },
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'no master',
      { master: '' },
      '"master" field is required. It specifies the host interface name to create the VLAN for',
    ],
    ['a master name too long', { master: 'a-very-long-name0' }, 'invalid master name'],
    ['VLAN ID 4095', { vlanId: 4095 }, 'invalid VLAN ID 4095'],
    ['VLAN ID -1', { vlanId: -1 }, 'invalid VLAN ID -1'],
    ['a negative MTU', { mtu: -1 }, 'invalid MTU -1'],
    ['a string VLAN ID', { vlanId: '5' }, 'invalid vlan configuration'],
  ])('%s is code 7', (_what, extra, msg) => {
    expect(() => load(extra)).toThrow(msg);
    expect(codeOf(() => load(extra))).toBe(7);
  });

  it('IPAM is required for ADD and STATUS (code 7), not for loading', () => {
    expect(() => requireIpam(load())).toThrow('vlan needs an "ipam" section');
    expect(codeOf(() => requireIpam(load()))).toBe(7);
    expect(requireIpam(load({ ipam: { type: 'static' } }))).toBe('static');
  });
});
