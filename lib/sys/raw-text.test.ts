/** Names keep their bytes: decoding and encoding are inverse for any bytes, and ordinary for UTF-8. */
import { describe, expect, it } from '@jest/globals';
import { goJsonText, hasRawBytes, rawBytes, rawLength, rawPath, rawString, truncateBytes } from './raw-text';

describe('raw text', () => {
  it('is the ordinary conversion for UTF-8', () => {
    for (const s of ['eth0', 'é', '💀x', '']) {
      expect(rawString(Buffer.from(s))).toBe(s);
      expect(rawBytes(s)).toEqual(Buffer.from(s));
      expect(hasRawBytes(s)).toBe(false);
      expect(rawPath(s)).toBe(s);
    }
  });

  it('round-trips every byte sequence, including ones that are not UTF-8', () => {
    const samples = [
      [0x65, 0xff, 0x78],
      [0xc3],
      [0xe2, 0x82, 0x41],
      [0xed, 0xa0, 0xbd, 0xed, 0xb2, 0x80], // UTF-16 surrogates encoded as UTF-8 (CESU): not UTF-8
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
      [0xc0, 0xaf], // overlong '/'
      Array.from({ length: 256 }, (_, i) => i),
    ];
    for (const bytes of samples) {
      const b = Buffer.from(bytes);
      const s = rawString(b);
      expect(rawBytes(s)).toEqual(b);
      expect(rawLength(s)).toBe(b.length);
    }
    expect(hasRawBytes(rawString(Buffer.from([0x65, 0xff])))).toBe(true);
    expect(rawPath(rawString(Buffer.from([0xff])))).toEqual(Buffer.from([0xff]));
  });

  it('for random bytes too', () => {
    for (let n = 0; n < 500; n++) {
      const b = Buffer.from(Array.from({ length: 1 + (n % 17) }, () => Math.floor(Math.random() * 256)));
      expect(rawBytes(rawString(b))).toEqual(b);
    }
  });

  it('cuts by bytes, as Go slices a string', () => {
    expect(truncateBytes('abcdef', 4)).toBe('abcd');
    const cut = truncateBytes('aé', 2); // 'a' and the first byte of é
    expect(rawBytes(cut)).toEqual(Buffer.from([0x61, 0xc3]));
  });

  it('renders bytes that are not UTF-8 as U+FFFD each, as Go does in JSON', () => {
    expect(goJsonText(rawString(Buffer.from([0x65, 0xe2, 0x82, 0x41])))).toBe('e\ufffd\ufffdA');
    expect(goJsonText('💀')).toBe('💀');
  });
});
