import { describe, expect, it } from '@jest/globals';
import { ALL_VERSIONS, resultFamily } from '../version';
import { convertResult, parseResult } from './decode';
import { toWire } from './encode';
import type { Result } from './types';

const full: Result = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '0a:00:00:00:00:01' },
    { name: 'veth1', mac: '0a:00:00:00:00:02' },
    { name: 'eth0', mac: '0a:00:00:00:00:03', sandbox: '/run/netns/x', mtu: 1400 },
  ],
  ips: [
    { interface: 2, address: '10.1.0.5/24', gateway: '10.1.0.1' },
    { interface: 2, address: '10.1.0.6/24', gateway: '10.1.0.1' },
    { interface: 2, address: 'fd00::5/64', gateway: 'fd00::1' },
  ],
  routes: [
    { dst: '0.0.0.0/0' },
    { dst: '::/0', gw: 'fd00::1' },
    { dst: '192.168.0.0/16', gw: '10.1.0.254', priority: 5 },
  ],
  dns: { nameservers: ['10.1.0.53'], domain: 'example', search: ['a.example'], options: ['ndots:2'] },
};

/** What survives a trip through a version family. */
function expectedAfter(version: string): Result {
  const fam = resultFamily(version);
  if (fam === '1.x') return { ...full, cniVersion: version };
  if (fam === '0.4') {
    return {
      ...full,
      cniVersion: version,
      interfaces: full.interfaces?.map(({ name, mac, sandbox }) => ({
        name,
        mac,
        ...(sandbox ? { sandbox } : {}),
      })) as Result['interfaces'],
    };
  }
  return {
    cniVersion: version,
    ips: [
      { address: '10.1.0.5/24', gateway: '10.1.0.1' },
      { address: 'fd00::5/64', gateway: 'fd00::1' },
    ],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.1.0.254' }, { dst: '::/0', gw: 'fd00::1' }],
    dns: full.dns,
  } as Result;
}

describe('result conversion between every pair of versions', () => {
  for (const from of ALL_VERSIONS) {
    for (const to of ALL_VERSIONS) {
      it(`${from} -> ${to}`, () => {
        const src = toWire(full, from);
        const out = convertResult(src, from, to);
        expect(out['cniVersion']).toBe(to);
        const back = parseResult(out, to);
        // Information lost going through the older family stays lost.
        const lossy = [from, to].map(resultFamily).includes('0.2')
          ? expectedAfter('0.2.0')
          : [from, to].map(resultFamily).includes('0.4')
            ? expectedAfter('0.4.0')
            : expectedAfter('1.1.0');
        expect({ ...back, cniVersion: 'x' }).toEqual({ ...lossy, cniVersion: 'x' });
      });
    }
  }
});

describe('wire shapes', () => {
  it('1.x has no ips[].version and omits empty dns', () => {
    const w = toWire({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] }, '1.0.0');
    expect(w).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] });
  });
  it('0.4 adds version by family and always has dns', () => {
    const w = toWire(
      {
        cniVersion: '1.0.0',
        ips: [{ address: 'fd00::2/64', interface: 0 }],
        interfaces: [{ name: 'eth0', mtu: 9000 }],
      },
      '0.4.0',
    );
    expect(w).toEqual({
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0' }],
      ips: [{ version: '6', interface: 0, address: 'fd00::2/64' }],
      dns: {},
    });
  });
  it('0.2 keeps the first address per family and groups routes', () => {
    expect(toWire(full, '0.2.0')).toEqual({
      cniVersion: '0.2.0',
      ip4: {
        ip: '10.1.0.5/24',
        gateway: '10.1.0.1',
        routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.1.0.254' }],
      },
      ip6: { ip: 'fd00::5/64', gateway: 'fd00::1', routes: [{ dst: '::/0', gw: 'fd00::1' }] },
      dns: full.dns,
    });
  });
  it('0.2 drops routes of a family without an address', () => {
    const w = toWire({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }], routes: [{ dst: '::/0' }] }, '0.1.0');
    expect(w).toEqual({ cniVersion: '0.1.0', ip4: { ip: '10.0.0.2/24' }, dns: {} });
  });
  it('0.2 cannot represent a result without addresses', () => {
    expect(() => toWire({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }] }, '0.2.0')).toThrow(
      'cannot convert: no valid IP addresses',
    );
  });
  it('a result without cniVersion takes the fallback version', () => {
    expect(parseResult({ ip4: { ip: '10.0.0.2/24' } }, '0.2.0').ips).toEqual([{ address: '10.0.0.2/24' }]);
  });
  it('an unknown result version is rejected with code 1', () => {
    expect(() => parseResult({ cniVersion: '9.9.9' }, '1.0.0')).toThrow(
      expect.objectContaining({ code: 1 }) as unknown as Error,
    );
  });
  it('malformed results are config errors that name the path', () => {
    expect(() => parseResult({ cniVersion: '1.0.0', ips: [{ address: 5 }] }, '1.0.0')).toThrow(/ips\.0\.address/);
  });
  it('keys are matched case-insensitively like Go', () => {
    expect(parseResult({ CNIVersion: '1.0.0', IPs: [{ Address: '10.0.0.2/24' }] }, '1.0.0').ips).toEqual([
      { address: '10.0.0.2/24' },
    ]);
  });
});
