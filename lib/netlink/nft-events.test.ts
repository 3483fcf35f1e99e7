/** nftables notices decoded from bytes as the kernel sends them (nfnetlink header, nfgenmsg, attributes). */
import { describe, expect, it } from '@jest/globals';
import { attr, encodeMessage } from './message';
import { decodeNftEvents, NFNL_SUBSYS_NFTABLES, removesRules } from './nft-events';

const nfgen = (family: number): Uint8Array => Uint8Array.of(family, 0, 0, 0);
const notice = (msg: number, family: number, table?: string): Uint8Array =>
  encodeMessage(
    { type: (NFNL_SUBSYS_NFTABLES << 8) | msg, flags: 0 },
    nfgen(family),
    table === undefined ? [] : [attr.str(1, table)],
  );
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

describe('decodeNftEvents', () => {
  it('names the object, the operation, the family and the table', () => {
    const d = concat(notice(8, 2, 'nat'), notice(15, 0), notice(6, 1, 'tscni_hostport'), notice(2, 7, 'cni_x'));
    expect(decodeNftEvents(d)).toEqual([
      { object: 'rule', op: 'del', family: 2, table: 'nat' },
      { object: 'generation', op: 'gen', family: 0 },
      { object: 'rule', op: 'new', family: 1, table: 'tscni_hostport' },
      { object: 'table', op: 'del', family: 7, table: 'cni_x' },
    ]);
  });

  it('leaves out other subsystems and unknown message types', () => {
    const other = encodeMessage({ type: (1 << 8) | 0, flags: 0 }, nfgen(2)); // ctnetlink
    expect(decodeNftEvents(concat(other, notice(17, 2, 'x'), notice(5, 10, 'filter')))).toEqual([
      { object: 'chain', op: 'del', family: 10, table: 'filter' },
    ]);
  });

  it('removesRules: any deletion, not additions or generations', () => {
    expect(removesRules(decodeNftEvents(concat(notice(6, 2, 'nat'), notice(15, 0))))).toBe(false);
    expect(removesRules(decodeNftEvents(concat(notice(14, 1, 'tscni_hostport'))))).toBe(true);
  });
});
