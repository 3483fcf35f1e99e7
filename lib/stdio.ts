/**
 * Writing to the process's standard descriptors with plain synchronous writes: the process
 * streams (`process.stdout`) cost a Bun executable ~10 ms to set up, more than a whole VERSION
 * call, and a plugin prints one document and exits anyway.
 */
import { writeSync } from 'node:fs';

export function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off);
}
