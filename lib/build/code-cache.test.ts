import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { pack, renderLoader, wrapBundle } from './code-cache';

const BUNDLE = '#!/usr/bin/env node\nprocess.stdout.write(String(require("node:path").basename(__filename)) + ":" + (6 * 7));\n';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-cc-test-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('code cache loader', () => {
  it('keeps the shebang and the plugin marker on line 2 (in-process delegation looks for it)', () => {
    const lines = renderLoader('bridge', wrapBundle(BUNDLE), undefined).split('\n');
    expect(lines[0]).toBe('#!/usr/bin/env node');
    expect(lines[1]).toBe('// tscni-plugin: bridge');
  });

  it('runs the bundle with its own require and __filename, with a valid cache, a foreign cache or none', () => {
    withDir((dir) => {
      const wrapped = wrapBundle(BUNDLE);
      const script = new Script(wrapped);
      script.runInThisContext();
      const caches: Array<Buffer | undefined> = [script.createCachedData(), Buffer.from('not a V8 code cache'), undefined];
      for (const [i, cache] of caches.entries()) {
        const file = join(dir, `plugin${i}`);
        writeFileSync(file, renderLoader('x', wrapped, cache));
        expect(execFileSync(process.execPath, [file], { encoding: 'utf8' })).toBe(`plugin${i}:42`);
      }
    });
  });

  it('pack writes an executable even for a plugin without a warm-up call', () => {
    withDir((dir) => {
      writeFileSync(join(dir, 'bundle.js'), BUNDLE);
      pack('unused', 'other', join(dir, 'bundle.js'), join(dir, 'out'));
      expect(readFileSync(join(dir, 'out'), 'utf8')).toContain('// tscni-plugin: other');
      expect(execFileSync(join(dir, 'out'), { encoding: 'utf8' })).toBe('out:42');
    });
  });
});
