/** CNI_NETNS is checked by its file system before it is opened (issue 20 row 6); the rest needs the executable (netns-path.int.test.ts). */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkNetnsFs, NotNetnsError } from './netns';
import { requireProgram } from '../testutil/programs';

describe('checkNetnsFs', () => {
  it('refuses a FIFO without opening it (an open would block), and a regular file, by their file system', () => {
    const d = mkdtempSync(join(tmpdir(), 'netns-test-'));
    try {
      execFileSync(requireProgram('mkfifo'), [join(d, 'fifo')]);
      writeFileSync(join(d, 'file'), '');
      for (const p of [join(d, 'fifo'), join(d, 'file'), d]) {
        expect(() => checkNetnsFs(p)).toThrow(NotNetnsError);
        expect(() => checkNetnsFs(p)).toThrow(/^unknown FS magic on ".*": [0-9a-f]+$/);
      }
      let missing: unknown;
      try {
        checkNetnsFs(join(d, 'gone'));
      } catch (e) {
        missing = e;
      }
      expect(missing).toBeInstanceOf(NotNetnsError);
      expect((missing as NotNetnsError).missing).toBe(true);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
