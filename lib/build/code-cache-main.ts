/** Command line of the code-cache build step (see code-cache.ts). */
import { pack, warm } from './code-cache';

const [self = '', mode, a, b, c] = process.argv.slice(1);
if (mode === 'warm' && a && b) warm(a, b);
else if (mode === 'pack' && a && b && c) pack(self, a, b, c);
else {
  process.stderr.write('usage: code-cache pack <plugin> <bundle> <out> | warm <bundle> <cache-out>\n');
  process.exitCode = 2;
}
