/** firewall configuration: the reference's keys and defaults, and every name that reaches a command checked. */
import { describe, expect, it } from '@jest/globals';
import { cniErrorOf } from '../../lib/testutil/errors';
import { DEFAULT_DATA_DIR, isAdminChainName, isZoneName, loadFirewallConfig, type FirewallConfig } from './config';

const load = (extra: Record<string, unknown> = {}): FirewallConfig =>
  loadFirewallConfig({ cniVersion: '1.0.0', name: 'net', type: 'firewall', ...extra });
const errorOf = (extra: Record<string, unknown>): ReturnType<typeof cniErrorOf> => cniErrorOf(() => load(extra));

describe('firewall config', () => {
  it('defaults: the backend chosen at run time, CNI-ADMIN, zone trusted, open ingress', () => {
    expect(load()).toEqual({
      backend: undefined,
      adminChain: 'CNI-ADMIN',
      zone: 'trusted',
      ingressPolicy: 'open',
      dataDir: DEFAULT_DATA_DIR,
    });
  });

  it('every key, matched like Go (any case)', () => {
    expect(
      load({
        Backend: 'iptables',
        IPTablesAdminChainName: 'MY-ADMIN',
        firewalldzone: 'public',
        ingressPolicy: 'same-bridge',
        dataDir: '/tmp/fw',
      }),
    ).toEqual({
      backend: 'iptables',
      adminChain: 'MY-ADMIN',
      zone: 'public',
      ingressPolicy: 'same-bridge',
      dataDir: '/tmp/fw',
    });
    expect(load({ backend: 'firewalld' }).backend).toBe('firewalld');
    expect(load({ backend: 'nftables' }).backend).toBe('nftables');
  });

  it("upstream's ingressPolicy isolated; our internal key, decided from the bridge when unset", () => {
    expect(load({ ingressPolicy: 'isolated' }).ingressPolicy).toBe('isolated');
    expect(load().internal).toBeUndefined();
    expect(load({ internal: true }).internal).toBe(true);
    expect(load({ internal: false }).internal).toBe(false);
    expect(errorOf({ internal: 'yes' })).toEqual({
      code: 7,
      msg: 'invalid firewall configuration',
      details: 'internal: expected boolean, got string "yes"',
    });
  });

  it('wrong types: code 7 naming the key', () => {
    expect(errorOf({ firewalldZone: 1 })).toEqual({
      code: 7,
      msg: 'invalid firewall configuration',
      details: 'firewalldZone: expected string, got number',
    });
  });

  it('each refusal with its message and what would be accepted', () => {
    expect(errorOf({ backend: 'pf' })).toEqual({
      code: 7,
      msg: 'unknown firewall backend "pf"',
      details: 'backend must be "iptables", "firewalld" or "nftables"',
    });
    expect(errorOf({ iptablesAdminChainName: 'FORWARD' })).toEqual({
      code: 7,
      msg: 'invalid iptablesAdminChainName "FORWARD"',
      details: 'a chain name of at most 28 letters, digits, "_", "." or "-", not a built-in or CNI-FORWARD chain',
    });
    expect(errorOf({ backend: 'nftables', iptablesAdminChainName: 'X' })).toEqual({
      code: 7,
      msg: 'nftables backend was requested but configuration contains iptables-specific options [iptablesAdminChainName]',
      details: 'with nftables the admin chain is "admin" in table inet tscni_firewall',
    });
    expect(errorOf({ firewalldZone: 'a zone' })).toEqual({ code: 7, msg: 'invalid firewalldZone "a zone"' });
    expect(errorOf({ ingressPolicy: 'closed' })).toEqual({
      code: 7,
      msg: 'unknown ingress policy: "closed"',
      details: 'ingressPolicy must be "open", "same-bridge" or "isolated"',
    });
    for (const dataDir of ['relative/dir', '/var/lib/../etc', '/a\u0000b'])
      expect(errorOf({ dataDir })).toEqual({
        code: 7,
        msg: `invalid dataDir ${JSON.stringify(dataDir)}`,
        details: 'an absolute path without ".."',
      });
  });

  it('chain and zone names: no shell or rule syntax gets through', () => {
    expect(isAdminChainName('CNI-ADMIN')).toBe(true);
    expect(isAdminChainName('x'.repeat(28))).toBe(true);
    for (const bad of ['x'.repeat(29), '-A', 'a b', 'a;b', 'CNI-FORWARD', 'POSTROUTING', ''])
      expect(isAdminChainName(bad)).toBe(false);
    expect(isZoneName('trusted')).toBe(true);
    for (const bad of ['', 'a/b', '../x', 'x'.repeat(65)]) expect(isZoneName(bad)).toBe(false);
  });
});
