/**
 * What macvlan and ipvlan share (sublink/config.ts): the common keys with their paths in errors,
 * the checks both loaders run, DEL's minimal loader, and the VLAN user an attachment stands for.
 * Each plugin's own keys and modes: plugins/macvlan/config.test.ts, plugins/ipvlan/config.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import * as t from '../cni/schema';
import { cniErrorOf } from '../testutil/errors';
import { testAttachment } from '../testutil/invocation';
import { checkCommon, commonKeys, loadDelConfig, vlanUserOf } from './config';

const common = t.object(commonKeys);
const decode = (v: Record<string, unknown>): t.Decoded<typeof common> => t.parseWith(common, v, 'sub configuration');

describe('common keys', () => {
  it('decoded with Go’s rules: any case, unknown keys dropped', () => {
    expect(
      decode({ Master: 'eth0', MODE: 'l2', mtu: 1400, linkInContainer: false, vlan: 5, ipam: { type: 'dhcp' }, x: 1 }),
    ).toEqual({ master: 'eth0', mode: 'l2', mtu: 1400, linkInContainer: false, vlan: 5, ipam: { type: 'dhcp' } });
  });

  it('a wrong type names its path', () => {
    const errorOf = (v: Record<string, unknown>): ReturnType<typeof cniErrorOf> => cniErrorOf(() => decode(v));
    expect(errorOf({ master: ['eth0'] })).toEqual({
      code: 7,
      msg: 'invalid sub configuration',
      details: 'master: expected string, got array',
    });
    expect(errorOf({ vlan: '10' }).details).toBe('vlan: expected integer, got string "10"');
    expect(errorOf({ ipam: { type: false } }).details).toBe('ipam.type: expected string, got boolean');
    expect(errorOf({ dns: { nameservers: [1] } }).details).toBe('dns.nameservers.0: expected string, got number');
  });
});

describe('checks both loaders run', () => {
  it('a master that is a link name; a VLAN ID 1–4094, not with linkInContainer', () => {
    expect(() => checkCommon({})).not.toThrow();
    expect(() => checkCommon({ master: 'eth0', vlan: 4094 })).not.toThrow();
    expect(cniErrorOf(() => checkCommon({ master: 'eth0/../x' }))).toEqual({
      code: 7,
      msg: 'invalid master name "eth0/../x"',
      details: 'a link name has 1 to 15 bytes',
    });
    expect(cniErrorOf(() => checkCommon({ master: 'eth0', vlan: 10, linkInContainer: true }))).toEqual({
      code: 7,
      msg: '"vlan" cannot be used with "linkInContainer": the sub-interface is made on the host',
    });
    expect(cniErrorOf(() => checkCommon({ vlan: 0 }))).toEqual({
      code: 7,
      msg: 'invalid VLAN ID 0 (must be between 1 and 4094)',
    });
    expect(cniErrorOf(() => checkCommon({ master: 'enp0s31f6abcde', vlan: 100 }))).toEqual({
      code: 7,
      msg: 'invalid VLAN sub-interface name "enp0s31f6abcde.100"',
      details: 'a link name has 1 to 15 bytes and no "/", ":" or white space',
    });
  });
});

describe('DEL’s loader', () => {
  it('reads only IPAM and linkInContainer, so a config ADD refuses can still be deleted', () => {
    const conf = { cniVersion: '1.0.0', name: 'n', master: 'a/b', mode: 'nope', vlan: 0, ipam: { type: 'host-local' } };
    expect(loadDelConfig(conf, 'macvlan configuration')).toEqual({
      ipamType: 'host-local',
      linkInContainer: false,
    });
    expect(loadDelConfig({ name: 'n', LinkInContainer: true }, 'x')).toEqual({
      ipamType: '',
      linkInContainer: true,
    });
  });

  it('its own keys still must have their types', () => {
    expect(cniErrorOf(() => loadDelConfig({ name: 'n', linkInContainer: 1 }, 'ipvlan configuration'))).toEqual({
      code: 7,
      msg: 'invalid ipvlan configuration',
      details: 'linkInContainer: expected boolean, got number',
    });
  });
});

describe('the VLAN user of an attachment', () => {
  it('is the network, the container ID and the interface', () => {
    expect(vlanUserOf(testAttachment('mvnet', 'c9', 'net1'))).toEqual({
      network: 'mvnet',
      containerId: 'c9',
      ifName: 'net1',
    });
  });
});
