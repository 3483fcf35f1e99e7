/**
 * bandwidth configuration: the reference's keys, precedence and messages (code 7 here), the
 * subnet keys of upstream v1.5, the token-bucket arithmetic, the ifb name and the subnet matches.
 */
import { describe, expect, it } from '@jest/globals';
import { CniError, ErrorCode } from '../../lib/cni/errors';
import { parseCIDR } from '../../lib/addr/ip';
import { invocation } from '../../lib/testutil/invocation';
import { loadBandwidthConfig, type Subnet } from './config';
import { ifbAlias, ifbName, parseIfbAlias } from './names';
import { subnetKeys } from './shaping';
import { tbfParams } from './tbf';

const load = (extra: Record<string, unknown>): ReturnType<typeof loadBandwidthConfig> =>
  loadBandwidthConfig(invocation({ cniVersion: '1.0.0', name: 'bw', type: 'bandwidth', ...extra }));

function failure(extra: Record<string, unknown>): { code: number; msg: string } {
  try {
    load(extra);
  } catch (e) {
    if (e instanceof CniError) return { code: e.code, msg: e.details ? `${e.msg}: ${e.details}` : e.msg };
    throw e;
  }
  throw new Error('expected the config to be refused');
}

describe('limits', () => {
  it('a direction is shaped when both its rate and burst are set', () => {
    expect(load({ ingressRate: 8000, ingressBurst: 800 })).toEqual({
      ingress: { rate: 8000, burst: 800 },
      egress: undefined,
      selection: { mode: 'all' },
    });
  });

  it('nothing set, or everything zero: nothing to shape', () => {
    expect(load({})).toBeUndefined();
    expect(load({ ingressRate: 0, ingressBurst: 0, egressRate: 0, egressBurst: 0 })).toBeUndefined();
  });

  it('runtimeConfig.bandwidth (capability) applies only when no limit key is at the top level', () => {
    const rc = { runtimeConfig: { bandwidth: { egressRate: 1_000_000, egressBurst: 4294967295 } } };
    expect(load(rc)?.egress).toEqual({ rate: 1_000_000, burst: 4294967295 });
    // Go allocates the top-level entry when any of its keys is there, null or zero: it wins.
    expect(load({ ...rc, ingressRate: null })).toBeUndefined();
    expect(load({ ...rc, IngressRate: 0 })).toBeUndefined();
    expect(load({ ...rc, ingressRate: 8000, ingressBurst: 800 })?.egress).toBeUndefined();
  });

  it('keys match case-insensitively, as Go decodes them', () => {
    expect(load({ EGRESSRATE: 8000, egressburst: 800 })?.egress).toEqual({ rate: 8000, burst: 800 });
  });

  it.each<[Record<string, unknown>, string]>([
    [{ ingressRate: 8000 }, 'if rate is set, burst must also be set'],
    [{ egressBurst: 800 }, 'if burst is set, rate must also be set'],
    [{ ingressRate: 8000, ingressBurst: 34359738360 }, 'burst cannot be more than 4GB'],
    [{ egressRate: 7, egressBurst: 800 }, 'rate 7 is below 8 bits per second'],
    [{ egressRate: 8000, egressBurst: 7 }, 'burst 7 is below 8 bits'],
    [
      { ingressRate: -1, ingressBurst: 8 },
      'invalid bandwidth configuration: ingressRate: expected unsigned 64-bit integer, got number',
    ],
    [
      { ingressRate: '8M', ingressBurst: 8 },
      'invalid bandwidth configuration: ingressRate: expected unsigned 64-bit integer, got string "8M"',
    ],
    [{ runtimeConfig: { bandwidth: { ingressRate: 8000 } } }, 'if rate is set, burst must also be set'],
  ])('%j → %s (code 7)', (extra, msg) => {
    expect(failure(extra)).toEqual({ code: ErrorCode.InvalidNetworkConfig, msg });
  });

  it('the largest burst the reference takes is accepted (containerd sends 2^32-1 bits)', () => {
    expect(load({ ingressRate: 8000, ingressBurst: 34359738359 })?.ingress?.burst).toBe(34359738359);
  });
});

describe('subnets', () => {
  const limits = { ingressRate: 8000, ingressBurst: 800 };

  it('unshapedSubnets or shapedSubnets, host bits cleared like Go', () => {
    const c = load({ ...limits, unshapedSubnets: ['10.78.0.9/24', 'fd00:78::/64'] });
    expect(c?.selection.mode).toBe('unshaped');
    expect(
      c?.selection.mode !== 'all' && c?.selection.subnets.map((s) => [s.net.value.toString(16), s.prefix]),
    ).toEqual([
      ['a4e0000', 24],
      ['fd000078000000000000000000000000', 64],
    ]);
    expect(load({ ...limits, shapedSubnets: ['192.0.2.0/24'] })?.selection.mode).toBe('shaped');
  });

  it.each<[Record<string, unknown>, string]>([
    [
      { unshapedSubnets: ['10.0.0.0/8'], shapedSubnets: ['10.1.0.0/16'] },
      'unshapedSubnets and shapedSubnets cannot be both specified, one of them should be discarded',
    ],
    [{ shapedSubnets: ['10.0.0.0'] }, 'bad subnet "10.0.0.0" provided, details invalid CIDR address: 10.0.0.0'],
  ])('%j → %s', (extra, msg) => {
    expect(failure({ ...limits, ...extra })).toEqual({ code: ErrorCode.InvalidNetworkConfig, msg });
  });

  it('are not looked at when there is nothing to shape (as in the reference)', () => {
    expect(load({ shapedSubnets: ['junk'] })).toBeUndefined();
  });

  const subnet = (text: string): Subnet => {
    const c = parseCIDR(text);
    if (!c) throw new Error(text);
    return { net: c.addr, prefix: c.prefix };
  };

  it('become u32 keys on the peer address: source towards the container, destination from it', () => {
    expect(subnetKeys(subnet('10.78.0.0/24'), 'src')).toEqual([{ mask: 0xffffff00, value: 0x0a4e0000, offset: 12 }]);
    expect(subnetKeys(subnet('10.78.0.0/24'), 'dst')).toEqual([{ mask: 0xffffff00, value: 0x0a4e0000, offset: 16 }]);
    expect(subnetKeys(subnet('fd00:78::/40'), 'dst')).toEqual([
      { mask: 0xffffffff, value: 0xfd000078, offset: 24 },
      { mask: 0xff000000, value: 0, offset: 28 },
    ]);
    expect(subnetKeys(subnet('2001:db8::1/128'), 'src').map((k) => k.offset)).toEqual([8, 12, 16, 20]);
    expect(subnetKeys(subnet('0.0.0.0/0'), 'dst')).toEqual([]); // match-all of the family
  });
});

describe('token bucket', () => {
  it("the reference's numbers: 8 Mbit/s with an 80 kbit burst", () => {
    // As the reference's v1.1.1 leaves them in the kernel (tc: rate 8Mbit burst 10000b lat 25ms).
    expect(tbfParams({ rate: 8_000_000, burst: 80_000 }, 15.625)).toEqual({
      rate: 1_000_000,
      buffer: 156_250,
      limit: 35_000,
    });
  });

  it('a bucket beyond 2^32 ticks is clamped where the reference wraps around (containerd: 2^32-1 bits)', () => {
    expect(tbfParams({ rate: 10_000_000, burst: 4294967295 }, 15.625)).toEqual({
      rate: 1_250_000,
      buffer: 0xffffffff, // the reference: 6710886375 mod 2^32 = 2415919079
      limit: 31250 + 536870911,
    });
    expect(tbfParams({ rate: 1_000_000_000, burst: 4294967295 }, 15.625).buffer).toBe(67108859);
  });
});

describe('ifb names', () => {
  it("are the reference's: bwp + sha512(network + container ID), 15 characters", () => {
    expect(ifbName('bwnet', 'abc')).toBe('bwp82e64356b3c9');
  });

  it('carry an alias naming the network (hashed) and the shaped link, read back by GC', () => {
    const alias = ifbAlias('bwnet', 'veth0a1b2c3d');
    expect(alias).toBe('tscni bandwidth: network ee41a8704ffa843e, shapes veth0a1b2c3d');
    expect(parseIfbAlias(alias)).toEqual({ tag: 'ee41a8704ffa843e', hostLink: 'veth0a1b2c3d' });
    expect(parseIfbAlias('something else')).toBeUndefined();
    expect(parseIfbAlias(undefined)).toBeUndefined();
  });
});
