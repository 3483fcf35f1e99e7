/**
 * host-local configuration: range-set order, requested IPs and their sources, routes, and the
 * reference's messages for every refusal; DEL's loader needs only the data directory.
 */
import { describe, expect, it } from '@jest/globals';
import { formatIP } from '../addr/ip';
import { DEFAULT_DATA_DIR } from './disk-store';
import { rangeString, subnetString } from './ranges';
import { cniErrorOf } from '../testutil/errors';
import { loadConfig, loadStoreConfig, type HostLocalConfig } from './config';

const net = (
  ipam: Record<string, unknown> | undefined,
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'net',
  type: 'bridge',
  ...(ipam ? { ipam: { type: 'host-local', ...ipam } } : {}),
  ...extra,
});
const load = (
  ipam: Record<string, unknown> | undefined,
  extra: Record<string, unknown> = {},
  cniArgs = '',
): HostLocalConfig => loadConfig(net(ipam, extra), cniArgs);
const errorOf = (
  ipam: Record<string, unknown> | undefined,
  extra: Record<string, unknown> = {},
  cniArgs = '',
): ReturnType<typeof cniErrorOf> => cniErrorOf(() => load(ipam, extra, cniArgs));
/** Each set's ranges as `subnet start-end gw`. */
const sets = (c: HostLocalConfig): string[][] =>
  c.ranges.map((s) =>
    s.map((r) => `${subnetString(r)} ${rangeString(r)} ${formatIP({ family: r.family, value: r.gateway })}`),
  );

describe('host-local config', () => {
  it('a legacy single range: the subnet without its network and broadcast addresses, gateway .1 (skipped when allocating)', () => {
    const c = load({ subnet: '10.1.2.0/24' });
    expect(sets(c)).toEqual([['10.1.2.0/24 10.1.2.1-10.1.2.254 10.1.2.1']]);
    expect(c).toMatchObject({ dataDir: DEFAULT_DATA_DIR, routes: [], resolvConf: undefined, requested: [] });
  });

  it('range sets in the reference order: runtimeConfig.ipRanges, the legacy range, ipam.ranges', () => {
    const c = load(
      { subnet: '10.2.0.0/24', ranges: [[{ subnet: 'fd00::/64' }]] },
      { runtimeConfig: { ipRanges: [[{ subnet: '10.9.0.0/24', rangeStart: '10.9.0.10', rangeEnd: '10.9.0.20' }]] } },
    );
    expect(sets(c)).toEqual([
      ['10.9.0.0/24 10.9.0.10-10.9.0.20 10.9.0.1'],
      ['10.2.0.0/24 10.2.0.1-10.2.0.254 10.2.0.1'],
      ['fd00::/64 fd00::1-fd00::ffff:ffff:ffff:ffff fd00::1'],
    ]);
  });

  it('dataDir, resolvConf and routes (in Go’s spelling, host bits kept, null entries skipped)', () => {
    const c = load({
      subnet: '10.1.2.0/24',
      dataDir: '/tmp/leases',
      resolvConf: '/etc/resolv.conf',
      routes: [{ dst: '0.0.0.0/0' }, null, { dst: 'FD00:0::5/64', gw: 'fd00:0:0::1', priority: 5 }],
    });
    expect(c).toMatchObject({
      dataDir: '/tmp/leases',
      resolvConf: '/etc/resolv.conf',
      routes: [{ dst: '0.0.0.0/0' }, { dst: 'fd00::5/64', gw: 'fd00::1', priority: 5 }],
    });
  });

  it('requested IPs from CNI_ARGS, args.cni.ips and runtimeConfig.ips, de-duplicated in that order', () => {
    const c = load(
      { subnet: '10.1.2.0/24' },
      { args: { cni: { ips: ['10.1.2.7/24', '10.1.2.5'] } }, runtimeConfig: { ips: ['10.1.2.8'] } },
      'IP=10.1.2.5',
    );
    expect(c.requested.map(formatIP)).toEqual(['10.1.2.5', '10.1.2.7', '10.1.2.8']);
  });

  it('wrong types: code 7 naming the path', () => {
    expect(errorOf({ subnet: 10 })).toEqual({
      code: 7,
      msg: 'invalid host-local configuration',
      details: 'ipam.subnet: expected string, got number',
    });
    expect(errorOf({ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.1.0.0/24', gateway: 1 }]] }).details).toBe(
      'ipam.ranges.1.0.gateway: expected string, got number',
    );
    expect(errorOf({ subnet: '10.0.0.0/24' }, { runtimeConfig: { ips: '10.0.0.5' } }).details).toBe(
      'runtimeConfig.ips: expected array, got string "10.0.0.5"',
    );
  });

  it('the reference’s messages, code 7', () => {
    const msg = (ipam: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}, args = ''): string => {
      const e = errorOf(ipam, extra, args);
      expect(e.code).toBe(7);
      return e.msg;
    };
    expect(msg(undefined)).toBe("IPAM config missing 'ipam' key");
    expect(msg({})).toBe('no IP ranges specified');
    expect(msg({ subnet: '10.0.0.0/33' })).toBe('invalid CIDR address: 10.0.0.0/33');
    expect(msg({ subnet: '10.0.0.0/31' })).toBe('invalid range set 0: Network 10.0.0.0/31 too small to allocate from');
    expect(msg({ subnet: '10.0.0.0/24', rangeStart: '10.0.1.5' })).toBe(
      'invalid range set 0: RangeStart 10.0.1.5 not in network 10.0.0.0/24',
    );
    expect(msg({ ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]] })).toBe(
      'invalid range set 0: mixed address families',
    );
    expect(msg({ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.0/16' }]] })).toBe(
      'range set 0 overlaps with 1',
    );
    expect(msg({ subnet: '10.0.0.0/24', routes: [{ dst: 'nope' }] })).toBe('invalid CIDR address: nope');
    expect(msg({ subnet: '10.0.0.0/24', routes: [{ dst: '0.0.0.0/0', gw: 'x' }] })).toBe('invalid IP address: x');
    expect(msg({ subnet: '10.0.0.0/24' }, { runtimeConfig: { ips: ['10.0.0.300'] } })).toBe(
      'invalid IP address 10.0.0.300',
    );
    expect(msg({ subnet: '10.0.0.0/24' }, {}, 'IP=x')).toBe(
      'ARGS: error parsing value of pair "IP=x": invalid IP address x',
    );
  });

  it('below 0.3.0 one range set per family', () => {
    const two = { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.1.0.0/24' }]] };
    expect(errorOf(two, { cniVersion: '0.2.0' })).toEqual({
      code: 7,
      msg: 'CNI version 0.2.0 does not support more than 1 address per family',
    });
    expect(
      load({ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/64' }]] }, { cniVersion: '0.2.0' }).ranges,
    ).toHaveLength(2);
  });

  it('DEL and GC read only the data directory: ranges that no longer validate do not stop them', () => {
    expect(loadStoreConfig(net({ subnet: 'garbage', dataDir: '/tmp/x' }))).toEqual({
      dataDir: '/tmp/x',
      reuseDelayMs: 0,
    });
    expect(loadStoreConfig(net({}))).toEqual({ dataDir: DEFAULT_DATA_DIR, reuseDelayMs: 0 });
    expect(cniErrorOf(() => loadStoreConfig(net(undefined)))).toEqual({
      code: 7,
      msg: "IPAM config missing 'ipam' key",
    });
  });
});
