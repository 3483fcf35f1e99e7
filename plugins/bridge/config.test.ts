/** bridge configuration: the reference's keys and defaults, its cross-key rules and messages, MAC precedence. */
import { describe, expect, it } from '@jest/globals';
import { cniErrorOf } from '../../lib/testutil/errors';
import { loadBridgeConfig, type BridgeConfig } from './config';

const load = (extra: Record<string, unknown> = {}, cniArgs = ''): BridgeConfig =>
  loadBridgeConfig({ cniVersion: '1.0.0', name: 'net', type: 'bridge', ...extra }, cniArgs);
const errorOf = (extra: Record<string, unknown>, cniArgs = ''): ReturnType<typeof cniErrorOf> =>
  cniErrorOf(() => load(extra, cniArgs));

describe('bridge config', () => {
  it('defaults: cni0, layer 2 only, nothing switched on', () => {
    expect(load()).toEqual({
      bridge: 'cni0',
      isGateway: false,
      isDefaultGateway: false,
      forceAddress: false,
      ipMasq: false,
      ipMasqBackend: undefined,
      mtu: 0,
      hairpinMode: false,
      promiscMode: false,
      vlan: 0,
      vlanTrunk: [],
      preserveDefaultVlan: false,
      enabledad: false,
      disableContainerInterface: false,
      portIsolation: false,
      macspoofchk: false,
      ipamType: '',
      dns: undefined,
      mac: undefined,
    });
  });

  it('every key, matched like Go (any case)', () => {
    const c = load({
      Bridge: 'br0',
      isGateway: true,
      IPMASQ: true,
      ipMasqBackend: 'nftables',
      mtu: 1400,
      hairpinMode: true,
      forceAddress: true,
      portIsolation: true,
      macspoofchk: true,
      enabledad: true,
      preserveDefaultVlan: true,
      ipam: { type: 'host-local' },
      dns: { nameservers: ['10.0.0.53'], search: ['svc'] },
    });
    expect(c).toMatchObject({
      bridge: 'br0',
      isGateway: true,
      ipMasq: true,
      ipMasqBackend: 'nftables',
      mtu: 1400,
      hairpinMode: true,
      forceAddress: true,
      portIsolation: true,
      macspoofchk: true,
      enabledad: true,
      preserveDefaultVlan: true,
      ipamType: 'host-local',
      dns: { nameservers: ['10.0.0.53'], search: ['svc'] },
    });
    expect(load({ dns: {} }).dns).toBeUndefined();
  });

  it('isDefaultGateway makes the bridge the gateway too', () => {
    expect(load({ isDefaultGateway: true })).toMatchObject({ isGateway: true, isDefaultGateway: true });
  });

  it('wrong types: code 7 naming the key', () => {
    expect(errorOf({ mtu: '1500' })).toEqual({
      code: 7,
      msg: 'invalid bridge configuration',
      details: 'mtu: expected integer, got string "1500"',
    });
    expect(errorOf({ isGateway: 'true' }).details).toBe('isGateway: expected boolean, got string "true"');
    expect(errorOf({ vlanTrunk: [{ id: 5 }, { minID: '1' }] }).details).toBe(
      'vlanTrunk.1.minID: expected integer, got string "1"',
    );
    expect(errorOf({ ipam: { type: 7 } }).details).toBe('ipam.type: expected string, got number');
    expect(errorOf({ dns: { nameservers: '10.0.0.53' } }).details).toBe(
      'dns.nameservers: expected array, got string "10.0.0.53"',
    );
  });

  it('the cross-key rules, with the reference’s messages (code 7)', () => {
    expect(errorOf({ bridge: 'a-bridge-name-too-long' })).toEqual({
      code: 7,
      msg: 'invalid bridge name',
      details: '"a-bridge-name-too-long"',
    });
    expect(errorOf({ vlan: 4095 }).msg).toBe('invalid VLAN ID 4095 (must be between 0 and 4094)');
    expect(errorOf({ vlan: -1 }).msg).toBe('invalid VLAN ID -1 (must be between 0 and 4094)');
    expect(errorOf({ hairpinMode: true, promiscMode: true }).msg).toBe(
      'cannot set hairpin mode and promiscuous mode at the same time',
    );
    expect(errorOf({ mtu: 65536 }).msg).toBe('invalid MTU 65536');
    expect(errorOf({ disableContainerInterface: true, ipam: { type: 'host-local' } }).msg).toBe(
      'cannot use IPAM when DisableContainerInterface flag is set',
    );
    expect(errorOf({ ipMasqBackend: 'pf' }).msg).toBe('unknown ipmasq backend "pf"');
  });

  it('vlanTrunk: IDs and ranges merged, sorted, de-duplicated; each bad entry its own message', () => {
    expect(load({ vlanTrunk: [{ id: 30 }, { minID: 10, maxID: 12 }, { id: 11 }] }).vlanTrunk).toEqual([10, 11, 12, 30]);
    const msg = (trunk: unknown[]): string => errorOf({ vlanTrunk: trunk }).msg;
    expect(msg([{ id: 0 }])).toBe('incorrect trunk id parameter');
    expect(msg([{ maxID: 5 }])).toBe('minID and maxID should be configured simultaneously, minID is missing');
    expect(msg([{ minID: 5 }])).toBe('minID and maxID should be configured simultaneously, maxID is missing');
    expect(msg([{ minID: 0, maxID: 5 }])).toBe('incorrect trunk minID parameter');
    expect(msg([{ minID: 1, maxID: 4095 }])).toBe('incorrect trunk maxID parameter');
    expect(msg([{ minID: 9, maxID: 5 }])).toBe('minID is greater than maxID in trunk parameter');
  });

  it('MAC: runtimeConfig over args.cni over CNI_ARGS, lower-cased; a bad one is refused', () => {
    expect(load({}, 'MAC=02:00:00:00:00:0A').mac).toBe('02:00:00:00:00:0a');
    expect(load({ args: { cni: { mac: '02:00:00:00:00:0b' } } }, 'MAC=02:00:00:00:00:0a').mac).toBe(
      '02:00:00:00:00:0b',
    );
    expect(
      load(
        { args: { cni: { mac: '02:00:00:00:00:0b' } }, runtimeConfig: { mac: '02:00:00:00:00:0c' } },
        'MAC=02:00:00:00:00:0a',
      ).mac,
    ).toBe('02:00:00:00:00:0c');
    expect(errorOf({ runtimeConfig: { mac: 'zz' } })).toEqual({ code: 7, msg: 'invalid MAC address "zz"' });
    expect(errorOf({}, 'FOO=1')).toEqual({ code: 999, msg: 'ARGS: unknown args ["FOO=1"]' });
  });
});
