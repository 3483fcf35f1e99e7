/**
 * The demo is README command one: it must keep working. It drives bin/tscni (add, check, del)
 * through the example conflist in its own sandbox and fails if anything is left behind.
 */
import { expect, it } from '@jest/globals';
import { join } from 'node:path';
import { REPO_ROOT, run } from '../lib/testutil/sandbox';

it('make demo runs to the end and leaves nothing behind', async () => {
  const r = await run([join(REPO_ROOT, 'examples', 'demo.sh')], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`demo failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  expect(r.stdout).toContain('hello from the web container');
  expect(r.stdout).toContain('all clean');
});
