/** ipvlan configuration: the reference's keys, modes and messages; our `vlan` key. */
import { describe, expect, it } from '@jest/globals';
import { cniErrorOf } from '../../lib/testutil/errors';
import { loadIpvlanConfig, loadIpvlanDelConfig } from './config';

const load = (extra: Record<string, unknown> = {}): ReturnType<typeof loadIpvlanConfig> =>
  loadIpvlanConfig({ cniVersion: '1.0.0', name: 'ipvnet', type: 'ipvlan', ...extra });

describe('ipvlan config', () => {
  it('defaults to l2 on the default route’s link; has no MAC', () => {
    expect(load()).toMatchObject({ kind: 'ipvlan', master: '', mode: 'l2', mtu: 0, mac: undefined });
  });
  it.each(['l2', 'l3', 'l3s'])('mode %s', (mode) => {
    expect(load({ mode }).mode).toBe(mode);
  });
  it('an unknown mode is the reference message', () => {
    expect(() => load({ mode: 'l4' })).toThrow('unknown ipvlan mode: "l4"');
    expect(() => load({ mode: 'bridge' })).toThrow('unknown ipvlan mode: "bridge"');
  });
  it('wrong types name their path (code 7); DEL reads only what it needs', () => {
    expect(cniErrorOf(() => load({ mode: 3 }))).toEqual({
      code: 7,
      msg: 'invalid ipvlan configuration',
      details: 'mode: expected string, got number',
    });
    expect(cniErrorOf(() => load({ ipam: 'host-local' })).details).toBe(
      'ipam: expected object, got string "host-local"',
    );
    const del = { name: 'ipvnet', mode: 'l4', vlan: -3, ipam: { type: 'static' } };
    expect(loadIpvlanDelConfig(del)).toEqual({ ipamType: 'static', linkInContainer: false });
  });
  it('the vlan key and linkInContainer', () => {
    expect(load({ master: 'eth0', vlan: 20 })).toMatchObject({ master: 'eth0', vlan: 20 });
    expect(() => load({ vlan: -3 })).toThrow('invalid VLAN ID -3');
    expect(load({ master: 'eth9', linkInContainer: true }).linkInContainer).toBe(true);
  });
});
