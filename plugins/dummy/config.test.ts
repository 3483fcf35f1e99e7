/** dummy configuration: nothing but IPAM, which is required. */
import { describe, expect, it } from '@jest/globals';
import { CniError } from '../../lib/cni/errors';
import { invocation } from '../../lib/testutil/invocation';
import { loadDummyIpamType } from './config';

const load = (extra: Record<string, unknown> = {}): string =>
  loadDummyIpamType(invocation({ cniVersion: '1.0.0', name: 'dnet', type: 'dummy', ...extra }));

describe('dummy config', () => {
  it('the IPAM type', () => {
    expect(load({ ipam: { type: 'host-local', subnet: '10.1.2.0/24' } })).toBe('host-local');
  });
  it('without IPAM: the reference message, code 7', () => {
    expect(() => load()).toThrow('dummy interface requires an IPAM configuration');
    let code = 0;
    try {
      load({ ipam: {} });
    } catch (e) {
      code = (e as CniError).code;
    }
    expect(code).toBe(7);
  });
});
