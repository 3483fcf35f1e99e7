/**
 * The keys every plugin shares (netconf.ts): prevResult (parsed, of the config's result family,
 * valid values; ignored on DEL when unusable), GC's attachment list and the `dns` key, with the
 * exact error texts and paths.
 */
import { describe, expect, it } from '@jest/globals';
import { cniErrorOf } from '../testutil/errors';
import { attachmentKey } from './invocation';
import { configuredDns, prevResultOf, validAttachmentsOf } from './netconf';
import { dnsDecoder } from './result/decode';
import type { CniVersion } from './version';

const conf = (extra: Record<string, unknown>, cniVersion: CniVersion = '1.0.0'): Record<string, unknown> => ({
  cniVersion,
  name: 'net',
  type: 'x',
  ...extra,
});

describe('prevResult', () => {
  it('absent or null: undefined', () => {
    expect(prevResultOf(conf({}), '1.0.0')).toBeUndefined();
    expect(prevResultOf(conf({ prevResult: null }), '1.0.0')).toBeUndefined();
  });

  it('parsed into the internal shape, in the config’s version when it names none', () => {
    const prevResult = {
      interfaces: [{ name: 'eth0', mac: '0a:00:00:00:00:01', sandbox: '/run/netns/x' }],
      ips: [{ interface: 0, address: '10.0.0.2/24', gateway: '10.0.0.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
    };
    expect(prevResultOf(conf({ prevResult }), '1.0.0')).toEqual({ cniVersion: '1.0.0', ...prevResult });
    // A 0.4.0 result in a 0.4.0 config: `version` dropped.
    const old = { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.2/24' }] };
    expect(prevResultOf(conf({ prevResult: old }, '0.4.0'), '0.4.0')).toEqual({
      cniVersion: '0.4.0',
      ips: [{ address: '10.0.0.2/24' }],
    });
  });

  it('refusals for ADD and CHECK, with code, message and path', () => {
    const errorOf = (prevResult: unknown, cniVersion: CniVersion = '1.0.0'): ReturnType<typeof cniErrorOf> =>
      cniErrorOf(() => prevResultOf(conf({ prevResult }, cniVersion), cniVersion));
    expect(errorOf('x')).toEqual({
      code: 6,
      msg: 'could not parse prevResult',
      details: 'prevResult must be a JSON object',
    });
    expect(errorOf({ cniVersion: '0.4.0' })).toEqual({
      code: 1,
      msg: 'could not parse prevResult',
      details: 'prevResult.cniVersion: "0.4.0" is not a result of config version 1.0.0',
    });
    expect(errorOf({ ips: [{ address: 5 }] })).toEqual({
      code: 7,
      msg: 'invalid prevResult',
      details: 'ips.0.address: expected string, got number',
    });
    expect(errorOf({ ips: [{ address: '10.0.0.2' }] })).toEqual({
      code: 7,
      msg: 'could not parse prevResult',
      details: 'prevResult.ips.0.address: invalid CIDR address "10.0.0.2"',
    });
    expect(errorOf({ interfaces: [{ name: 'eth0' }], ips: [{ interface: 1, address: '10.0.0.2/24' }] })).toEqual({
      code: 7,
      msg: 'could not parse prevResult',
      details: 'prevResult.ips.0.interface: index 1 is out of range of 1 interfaces',
    });
    expect(errorOf({ routes: [{ dst: '0.0.0.0/0', gw: 'gw' }] })).toEqual({
      code: 7,
      msg: 'could not parse prevResult',
      details: 'prevResult.routes.0.gw: invalid IP address "gw"',
    });
  });

  it('DEL cleans up what it can: an unusable prevResult reads as absent', () => {
    expect(prevResultOf(conf({ prevResult: 'x' }), '1.0.0', true)).toBeUndefined();
    expect(prevResultOf(conf({ prevResult: { ips: [{ address: 'bad' }] } }), '1.0.0', true)).toBe(undefined);
  });
});

describe('GC attachments', () => {
  it('cni.dev/valid-attachments, else the older cni.dev/attachments; neither means keep everything', () => {
    const a = [{ containerID: 'c1', ifname: 'eth0' }];
    expect(validAttachmentsOf(conf({ 'cni.dev/valid-attachments': a }))).toEqual(a);
    expect(validAttachmentsOf(conf({ 'cni.dev/attachments': a }))).toEqual(a);
    expect(validAttachmentsOf(conf({}))).toBeUndefined();
    expect(validAttachmentsOf(conf({ 'cni.dev/valid-attachments': [] }))).toEqual([]);
  });

  it('a malformed list is code 7 naming the entry', () => {
    expect(
      cniErrorOf(() => validAttachmentsOf(conf({ 'cni.dev/valid-attachments': [{ containerID: 'c1' }] }))),
    ).toEqual({
      code: 7,
      msg: 'invalid cni.dev/valid-attachments',
      details: '0.ifname: expected string, got undefined',
    });
  });

  it('keys: container ID and interface joined by NUL, so no two attachments share one', () => {
    expect(attachmentKey('a', 'b')).toBe('a\u0000b');
    expect(attachmentKey('a', 'bc')).not.toBe(attachmentKey('ab', 'c'));
  });
});

describe('the dns key', () => {
  it('undefined when it says nothing; empty fields left out', () => {
    const dns = (v: unknown): ReturnType<typeof configuredDns> => configuredDns(dnsDecoder(v, []));
    expect(configuredDns(undefined)).toBeUndefined();
    expect(dns({})).toBeUndefined();
    expect(dns({ nameservers: [], domain: '' })).toBeUndefined();
    expect(dns({ nameservers: ['10.0.0.53'], search: [], options: ['ndots:5'] })).toEqual({
      nameservers: ['10.0.0.53'],
      options: ['ndots:5'],
    });
  });
});
