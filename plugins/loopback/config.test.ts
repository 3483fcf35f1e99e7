/** loopback configuration: no keys of its own; a chain's prevResult, which ADD passes through. */
import { describe, expect, it } from '@jest/globals';
import { cniErrorOf } from '../../lib/testutil/errors';
import { invocation } from '../../lib/testutil/invocation';
import { loadLoopbackConfig } from './config';

const conf = { cniVersion: '1.0.0', name: 'cni-loopback', type: 'loopback' };

describe('loopback config', () => {
  it('unchained: nothing to read; unknown keys ignored', () => {
    expect(loadLoopbackConfig(invocation({ ...conf, mtu: 'x' }))).toEqual({ prevResult: undefined });
  });

  it('chained: the previous result', () => {
    const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }] };
    expect(loadLoopbackConfig(invocation({ ...conf, prevResult }))).toEqual({ prevResult });
  });

  it('an unusable prevResult fails ADD (code 7 naming the path) but not DEL', () => {
    const bad = { ...conf, prevResult: { ips: [{ address: 'lo' }] } };
    expect(cniErrorOf(() => loadLoopbackConfig(invocation(bad)))).toEqual({
      code: 7,
      msg: 'could not parse prevResult',
      details: 'prevResult.ips.0.address: invalid CIDR address "lo"',
    });
    expect(loadLoopbackConfig(invocation(bad, { command: 'DEL' }))).toEqual({ prevResult: undefined });
  });
});
