/** vrf configuration: `vrfname` required, `table` optional; the free table id the reference picks. */
import { describe, expect, it } from '@jest/globals';
import { CniError } from '../../lib/cni/errors';
import type { Link } from '../../lib/netlink';
import { invocation } from '../../lib/testutil/invocation';
import { loadVrfConfig } from './config';
import { freeTable } from './vrf';

const load = (extra: Record<string, unknown> = {}): ReturnType<typeof loadVrfConfig> =>
  loadVrfConfig(invocation({ cniVersion: '1.0.0', name: 'vrfnet', type: 'vrf', ...extra }));
const codeOf = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof CniError ? e.code : -1;
  }
  return undefined;
};

describe('vrf config', () => {
  it('vrfname and table', () => {
    expect(load({ vrfname: 'blue' })).toEqual({ vrfName: 'blue', table: 0 });
    expect(load({ VRFName: 'red', table: 4294967295 })).toEqual({ vrfName: 'red', table: 4294967295 });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no vrfname', {}, 'configuration is expected to have a valid vrf name'],
    ['an empty vrfname', { vrfname: '' }, 'configuration is expected to have a valid vrf name'],
    ['a vrfname with a space', { vrfname: 'a b' }, 'invalid vrf name "a b"'],
    ['a negative table', { vrfname: 'blue', table: -1 }, 'invalid vrf configuration'],
    ['a table beyond 32 bits', { vrfname: 'blue', table: 4294967296 }, 'invalid table 4294967296'],
  ])('%s is code 7', (_what, extra, msg) => {
    expect(() => load(extra)).toThrow(msg);
    expect(codeOf(() => load(extra))).toBe(7);
  });
});

describe('a free routing table', () => {
  const vrf = (table: number): Link => ({ index: table, name: `v${table}`, kind: 'vrf', vrfTable: table }) as Link;
  it('is the lowest one no VRF uses', () => {
    expect(freeTable([])).toBe(1);
    expect(freeTable([vrf(1), vrf(2), vrf(4)])).toBe(3);
  });
  it('is never one of the kernel’s own tables (default, main, local)', () => {
    const used = Array.from({ length: 252 }, (_, i) => vrf(i + 1));
    expect(freeTable(used)).toBe(256);
  });
});
