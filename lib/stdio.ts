/**
 * Writing to the process's standard descriptors with plain synchronous writes: the process
 * streams (`process.stdout`) cost a Bun executable ~10 ms to set up, more than a whole VERSION
 * call, and a plugin prints one document and exits anyway. node:fs itself is loaded only when
 * a write needs it (bench/chunks.py): a line to stdout or stderr goes through the runtime's
 * console, one write(2) of the text as it is, so VERSION never loads node:fs.
 */

const bun = typeof Bun !== 'undefined';

export function writeAll(fd: number, text: string): void {
  if (bun && (fd === 1 || fd === 2) && text.endsWith('\n')) {
    // Bun's console writes a lone string argument verbatim plus '\n', synchronously.
    // eslint-disable-next-line no-console -- the write itself, not logging
    (fd === 1 ? console.log : console.error)(text.slice(0, -1));
    return;
  }
  // node:fs on first use, as lib/sys/fs.ts loads it (lib/sys is beside this layer, not below it)
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, by design
  const { writeSync } = require('node:fs') as typeof import('node:fs');
  const buf = Buffer.from(text, 'utf8');
  for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off);
}
