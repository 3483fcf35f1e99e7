/** loopback configuration: no keys of its own; a chain's prevResult, which ADD passes through. */
import { describe, expect, it } from '@jest/globals';
import { cniErrorOf } from '../../lib/testutil/errors';
import { loadLoopbackConfig } from './config';

const conf = { cniVersion: '1.0.0', name: 'cni-loopback', type: 'loopback' };

describe('loopback config', () => {
  it('unchained: nothing to read; unknown keys ignored', () => {
    expect(loadLoopbackConfig({ ...conf, mtu: 'x' }, '1.0.0')).toEqual({ prevResult: undefined });
  });

  it('chained: the previous result', () => {
    const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }] };
    expect(loadLoopbackConfig({ ...conf, prevResult }, '1.0.0')).toEqual({ prevResult });
  });

  it('an unusable prevResult fails ADD and CHECK (code 7 naming the path)', () => {
    const bad = { ...conf, prevResult: { ips: [{ address: 'lo' }] } };
    expect(cniErrorOf(() => loadLoopbackConfig(bad, '1.0.0'))).toEqual({
      code: 7,
      msg: 'could not parse prevResult',
      details: 'prevResult.ips.0.address: invalid CIDR address "lo"',
    });
  });
});
