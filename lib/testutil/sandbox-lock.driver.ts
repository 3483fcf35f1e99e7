/**
 * Test driver for sandbox-lock.int.test.ts (run by Bun): another process with sandboxes of its own.
 *
 *   bun sandbox-lock.driver.ts own <tag>   makes a sandbox with a container namespace `c`, prints
 *                                          what it made as one JSON line, keeps it until stdin
 *                                          closes, then destroys it (or is killed first)
 *   bun sandbox-lock.driver.ts sweep       one sweep; prints what it removed as JSON
 */
import { Sandbox } from './sandbox';
import { LOCK_DIR, sweepDeadSandboxes } from './sandbox-lock';
import { join } from 'node:path';

const [op, tag] = process.argv.slice(2);
if (op === 'sweep') {
  process.stdout.write(`${JSON.stringify(sweepDeadSandboxes())}\n`);
} else if (op === 'own') {
  const sb = await Sandbox.create(tag ?? '');
  await sb.addContainer('c');
  const made = {
    pid: process.pid,
    prefix: sb.prefix,
    dir: sb.dir,
    namespaces: [sb.hostNs, sb.nsName('c')],
    lock: join(LOCK_DIR, `${sb.prefix}.lock`),
  };
  process.stdout.write(`${JSON.stringify(made)}\n`);
  process.stdin.on('end', () => {
    void sb.destroy().then(() => process.exit(0));
  });
  process.stdin.resume();
} else {
  process.stderr.write(`usage: sandbox-lock.driver.ts own <tag> | sweep\n`);
  process.exit(2);
}
