/** portmap configuration: mappings in containerd's and podman's spellings, the reference's defaults and messages. */
import { describe, expect, it } from '@jest/globals';
import { cniErrorOf } from '../../lib/testutil/errors';
import { loadPortmapConfig, type PortmapConfig } from './config';

const load = (extra: Record<string, unknown> = {}): PortmapConfig =>
  loadPortmapConfig({ cniVersion: '1.0.0', name: 'net', type: 'portmap', ...extra });
const errorOf = (extra: Record<string, unknown>): ReturnType<typeof cniErrorOf> => cniErrorOf(() => load(extra));
const mappings = (...m: unknown[]): Record<string, unknown> => ({ runtimeConfig: { portMappings: m } });

describe('portmap config', () => {
  it('defaults: no mappings, SNAT on, mark bit 13, the backend chosen at run time', () => {
    expect(load()).toEqual({
      mappings: [],
      mappingsGiven: false,
      snat: true,
      masqAll: false,
      markMasqBit: 13,
      externalSetMarkChain: undefined,
      conditionsV4: [],
      conditionsV6: [],
      backend: undefined,
    });
    expect(load(mappings()).mappingsGiven).toBe(true);
  });

  it('containerd’s HostPort and podman’s hostPort; protocol lower-cased, tcp by default; host IP in Go’s spelling', () => {
    const c = load(
      mappings(
        { HostPort: 8080, ContainerPort: 80, Protocol: 'TCP' },
        { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '0:0::1' },
        { hostPort: 9000, containerPort: 9000, hostIP: '' },
      ),
    );
    expect(c.mappings).toEqual([
      { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '::1' },
      { hostPort: 9000, containerPort: 9000, protocol: 'tcp', hostIP: '' },
    ]);
  });

  it('the other keys', () => {
    expect(
      load({
        snat: false,
        masqAll: true,
        externalSetMarkChain: 'KUBE-MARK-MASQ',
        conditionsV4: ['-s', '10.0.0.0/8'],
        conditionsV6: ['!', '-d', 'fd00::/8'],
        backend: 'iptables',
      }),
    ).toMatchObject({
      snat: false,
      masqAll: true,
      externalSetMarkChain: 'KUBE-MARK-MASQ',
      conditionsV4: ['-s', '10.0.0.0/8'],
      conditionsV6: ['!', '-d', 'fd00::/8'],
      backend: 'iptables',
    });
    expect(load({ markMasqBit: 0 }).markMasqBit).toBe(0);
  });

  it('wrong types: code 7 naming the path', () => {
    expect(errorOf(mappings({ hostPort: 80, containerPort: '80' }))).toEqual({
      code: 7,
      msg: 'invalid portmap configuration',
      details: 'runtimeConfig.portMappings.0.containerPort: expected integer, got string "80"',
    });
    expect(errorOf(mappings({ containerPort: 80 })).details).toBe(
      'runtimeConfig.portMappings.0.hostPort: expected integer, got undefined',
    );
    expect(errorOf({ conditionsV4: '-s 10.0.0.0/8' }).details).toBe(
      'conditionsV4: expected array, got string "-s 10.0.0.0/8"',
    );
  });

  it('the reference’s messages, code 7', () => {
    const msg = (extra: Record<string, unknown>): string => {
      const e = errorOf(extra);
      expect(e.code).toBe(7);
      return e.msg;
    };
    expect(msg(mappings({ hostPort: 80, containerPort: 0 }))).toBe('Invalid container port number: 0');
    expect(msg(mappings({ hostPort: 65536, containerPort: 80 }))).toBe('Invalid host port number: 65536');
    expect(errorOf(mappings({ hostPort: 80, containerPort: 80, protocol: 'icmp' }))).toEqual({
      code: 7,
      msg: 'Invalid protocol "icmp"',
      details: 'protocol must be tcp, udp or sctp',
    });
    expect(msg(mappings({ hostPort: 80, containerPort: 80, hostIP: 'localhost' }))).toBe('Invalid host IP "localhost"');
    expect(msg({ markMasqBit: 14, externalSetMarkChain: 'X' })).toBe(
      'Cannot specify externalSetMarkChain and markMasqBit',
    );
    expect(msg({ markMasqBit: 32 })).toBe('MasqMarkBit must be between 0 and 31');
    expect(msg({ externalSetMarkChain: 'A B' })).toBe('invalid externalSetMarkChain "A B"');
    expect(msg({ conditionsV4: ['-j ACCEPT\n-A INPUT'] })).toBe(
      'conditions must not contain newlines or double quotes',
    );
    expect(msg({ conditionsV6: ['"'] })).toBe('conditions must not contain newlines or double quotes');
    expect(msg({ backend: 'pf' })).toBe('unrecognized backend "pf"');
    expect(msg({ backend: 'nftables', markMasqBit: 13, conditionsV4: ['-s', '10.0.0.0/8'] })).toBe(
      'nftables backend was requested but configuration contains iptables-specific options [markMasqBit conditionsV4/conditionsV6]',
    );
  });
});
