/** The CRI reply decoder against bytes laid out as api.proto says (ListPodSandboxResponse). */
import { describe, expect, it } from '@jest/globals';
import { CriError, decodeListPodSandbox, protoFields } from './client';

const varint = (n: number): number[] => {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return out;
};
const field = (no: number, bytes: number[]): number[] => [...varint((no << 3) | 2), ...varint(bytes.length), ...bytes];
const str = (s: string): number[] => [...Buffer.from(s)];

describe('decodeListPodSandbox', () => {
  it('reads each item’s id and state, skipping what it does not know', () => {
    const sandbox = (id: string, state: number) => [
      ...field(1, str(id)),
      ...field(2, field(1, str('name'))), // metadata
      ...varint((3 << 3) | 0),
      ...varint(state),
      ...varint((4 << 3) | 0),
      ...varint(1_700_000_000),
    ];
    const body = Uint8Array.from([...field(1, sandbox('a'.repeat(64), 0)), ...field(1, sandbox('b1', 1))]);
    expect(decodeListPodSandbox(body)).toEqual([
      { id: 'a'.repeat(64), state: 0 },
      { id: 'b1', state: 1 },
    ]);
    expect(decodeListPodSandbox(new Uint8Array())).toEqual([]);
  });

  it('refuses truncated input', () => {
    expect(() => protoFields(Uint8Array.from([0x0a, 5, 1]))).toThrow(CriError);
    expect(() => protoFields(Uint8Array.from([0x08, 0x80]))).toThrow(CriError);
  });
});
