/** Go's depth limit and number shapes (issue 20 rows 8 and 11). */
import { describe, expect, it } from '@jest/globals';
import { JsonDepthError, JsonFloat, MAX_DEPTH, parseJson, scanJson } from './json';

const nested = (open: string, close: string, depth: number): string => open.repeat(depth) + close.repeat(depth);

describe('JSON from outside', () => {
  it('takes Go’s deepest document and refuses one level more, with Go’s words', () => {
    expect(() => parseJson(nested('[', ']', MAX_DEPTH))).not.toThrow();
    expect(() => parseJson(nested('[', ']', MAX_DEPTH + 1))).toThrow(JsonDepthError);
    expect(() => parseJson(`{"a":${nested('[', ']', MAX_DEPTH + 1)}}`)).toThrow(
      "invalid character '[' exceeded max depth",
    );
    expect(() => parseJson(`{"a":${'{"b":'.repeat(MAX_DEPTH)}1${'}'.repeat(MAX_DEPTH)}}`)).toThrow(
      "invalid character '{' exceeded max depth",
    );
  });

  it('scans a million levels without recursion', () => {
    expect(scanJson(nested('[', ']', 1_000_000)).tooDeep).toBe('[');
  });

  it('does not count brackets or dots inside strings', () => {
    expect(scanJson(`{"a":"${'['.repeat(MAX_DEPTH + 5)}.e1"}`)).toEqual({ tooDeep: undefined, floats: false });
    expect(scanJson('{"a":true,"b":false,"c":null,"d":-12}').floats).toBe(false);
    for (const n of ['1e3', '1E3', '80.0', '1.5e-2', '-0.0']) expect(scanJson(`{"a":${n}}`).floats).toBe(true);
  });

  it('ends a string at the first quote after an even run of backslashes', () => {
    // An escaped quote does not end the string: the dot and bracket after it are still inside.
    expect(scanJson(String.raw`{"a":"x\".5[","b":2}`)).toEqual({ tooDeep: undefined, floats: false });
    expect(scanJson(String.raw`{"a":"x\\\".5[","b":2}`)).toEqual({ tooDeep: undefined, floats: false });
    // An escaped backslash does: what follows is outside.
    expect(scanJson(String.raw`{"a":"x\\","b":1.5}`).floats).toBe(true);
    expect(scanJson(String.raw`["\\\\",[[1e2]]]`)).toEqual({ tooDeep: undefined, floats: true });
    // An unterminated string hides the rest (JSON.parse refuses the text anyway).
    expect(scanJson('{"a":"1.5').floats).toBe(false);
  });

  it('marks float-shaped numbers where the runtime tells their source (Bun), and writes them back as numbers', () => {
    const v = parseJson('{"a":1e3,"b":2,"c":[80.0]}', { floats: true }) as Record<string, unknown>;
    expect(v['b']).toBe(2);
    if (v['a'] instanceof JsonFloat) {
      expect(v['a'].source).toBe('1e3');
      expect(JSON.stringify(v)).toBe('{"a":1000,"b":2,"c":[80]}');
    } else expect(v['a']).toBe(1000); // Node.js 20: no source text for revivers
  });
});
