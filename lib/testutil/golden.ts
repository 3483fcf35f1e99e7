/**
 * Golden files for rendered firewall text, dnsmasq configurations and verb plans (test-only). A
 * test compares what it produced with `<dir>/__golden__/<name>.txt`; with UPDATE_GOLDEN=1
 * (`make golden`) it writes the file instead, so a deliberate change shows up as a diff in review.
 */
import { expect } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const updatingGolden = (): boolean => process.env['UPDATE_GOLDEN'] === '1';

export function expectGolden(dir: string, name: string, actual: string): void {
  const file = join(dir, '__golden__', `${name}.txt`);
  const text = actual.endsWith('\n') ? actual : actual + '\n';
  if (updatingGolden()) {
    mkdirSync(join(dir, '__golden__'), { recursive: true });
    writeFileSync(file, text);
    return;
  }
  if (!existsSync(file)) throw new Error(`golden file ${file} is missing: run \`make golden\` to create it`);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

/** Bytes that are not UTF-8 (held as U+DC80..U+DCFF, see lib/sys/raw-text.ts) shown as `\xNN`, so a golden file stays text. */
export const visibleBytes = (text: string): string =>
  text.replace(/[\udc80-\udcff]/g, (c) => `\\x${(c.charCodeAt(0) - 0xdc00).toString(16)}`);
