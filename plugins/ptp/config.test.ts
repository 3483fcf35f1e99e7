/** ptp configuration: kindnetd's keys, the reference's defaults and messages; IPAM required where it is used. */
import { describe, expect, it } from '@jest/globals';
import { cniErrorOf } from '../../lib/testutil/errors';
import { loadPtpConfig, requireIpam, type PtpConfig } from './config';

const load = (extra: Record<string, unknown> = {}): PtpConfig =>
  loadPtpConfig({ cniVersion: '0.3.1', name: 'kindnet', type: 'ptp', ...extra });
const errorOf = (extra: Record<string, unknown>): ReturnType<typeof cniErrorOf> => cniErrorOf(() => load(extra));

describe('ptp config', () => {
  it('kindnetd’s keys', () => {
    expect(load({ ipMasq: false, mtu: 1500, ipam: { type: 'host-local' } })).toEqual({
      ipMasq: false,
      ipMasqBackend: undefined,
      mtu: 1500,
      ipamType: 'host-local',
      dns: undefined,
    });
  });

  it('defaults; keys in any case; DNS only when it says something', () => {
    expect(load()).toEqual({ ipMasq: false, ipMasqBackend: undefined, mtu: 0, ipamType: '', dns: undefined });
    expect(load({ IPMasq: true, MTU: 1400, IPAM: { Type: 'static' } })).toMatchObject({
      ipMasq: true,
      mtu: 1400,
      ipamType: 'static',
    });
    expect(load({ dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] } }).dns).toEqual({
      nameservers: ['10.96.0.10'],
      search: ['svc.cluster.local'],
    });
    expect(load({ dns: { nameservers: [] } }).dns).toBeUndefined();
    expect(load({ ipMasq: true, ipMasqBackend: 'nftables' }).ipMasqBackend).toBe('nftables');
  });

  it('wrong types: code 7 naming the path', () => {
    expect(errorOf({ ipMasq: 'yes' })).toEqual({
      code: 7,
      msg: 'invalid ptp configuration',
      details: 'ipMasq: expected boolean, got string "yes"',
    });
    expect(errorOf({ mtu: 1500.5 }).details).toBe('mtu: expected integer, got number');
    expect(errorOf({ dns: { search: [1] } }).details).toBe('dns.search.0: expected string, got number');
  });

  it('the messages, code 7', () => {
    expect(errorOf({ ipMasqBackend: 'pf' })).toEqual({ code: 7, msg: 'unknown ipmasq backend "pf"' });
    expect(errorOf({ mtu: -1 })).toEqual({ code: 7, msg: 'invalid MTU -1' });
    expect(errorOf({ mtu: 65536 })).toEqual({ code: 7, msg: 'invalid MTU 65536' });
  });

  it('ADD, CHECK and STATUS need IPAM; DEL and GC load without it', () => {
    expect(cniErrorOf(() => requireIpam(load()))).toEqual({
      code: 7,
      msg: 'ptp needs an "ipam" section (no plugin name provided)',
    });
    expect(requireIpam(load({ ipam: { type: 'host-local' } }))).toBe('host-local');
  });
});
