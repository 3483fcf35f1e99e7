/**
 * The programs tests may start are installed before the first suite runs: the Makefile's
 * TEST_PROGRAMS (installed by `make testdeps`, which `make test` runs first) and
 * lib/testutil/programs.ts name the same program:package pairs, and README's opening paragraph
 * names exactly the packages the two commands may install.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_PROGRAMS, requireProgram } from './programs';
import { REPO_ROOT } from './sandbox';

const makefile = readFileSync(join(REPO_ROOT, 'Makefile'), 'utf8').replace(/\\\n/g, ' ');

/** The words of a `NAME := …` assignment, with $(VAR) references expanded. */
function variable(name: string): string[] {
  const m = new RegExp(`^${name}\\s*:=(.*)$`, 'm').exec(makefile);
  if (!m?.[1]) throw new Error(`Makefile has no ${name}`);
  return m[1]
    .trim()
    .split(/\s+/)
    .flatMap((w) => {
      const ref = /^\$\((\w+)\)$/.exec(w);
      return ref?.[1] ? variable(ref[1]) : [w];
    });
}

/** The program:package pairs of a Makefile list (a program may be a path, so split at the last colon). */
const pairsOf = (name: string): Array<[string, string]> =>
  variable(name).map((e) => [e.slice(0, e.lastIndexOf(':')), e.slice(e.lastIndexOf(':') + 1)]);
const packagesOf = (name: string): Set<string> => new Set(pairsOf(name).map(([, pkg]) => pkg));

/** The Debian packages a README sentence names: its code spans, commands left out. */
function namedIn(text: string, from: string, to: string): Set<string> {
  const start = text.indexOf(from);
  const end = text.indexOf(to, start + from.length);
  if (start < 0 || end < 0) throw new Error(`README has no sentence from ${from} to ${to}`);
  const spans = [...text.slice(start + from.length, end).matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');
  return new Set(spans.filter((w) => !w.includes(' ')));
}

const prerequisites = (target: string): string[] =>
  new RegExp(`^${target}:(.*)$`, 'm').exec(makefile)?.[1]?.trim().split(/\s+/) ?? [];

describe('test programs', () => {
  it('the Makefile installs exactly the programs lib/testutil/programs.ts lists', () => {
    const fromMake = pairsOf('TEST_PROGRAMS');
    expect(Object.fromEntries(fromMake)).toEqual(TEST_PROGRAMS);
    expect(fromMake.length).toBe(Object.keys(TEST_PROGRAMS).length);
  });

  it('make test and every suite target install them before running anything', () => {
    for (const t of ['test', 'integration', 'conformance', 'e2e']) expect(prerequisites(t)[0]).toBe('testdeps');
    expect(makefile).toMatch(/^testdeps:.*\n\t\$\(call install_missing,\$\(TEST_PROGRAMS\)\)$/m);
  });

  it('README says exactly what make demo and make test install', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    const sys = packagesOf('SYS_PROGRAMS');
    expect(namedIn(readme, '`make demo` needs', '`make test`')).toEqual(sys);
    const extra = [...packagesOf('TEST_PROGRAMS')].filter((p) => !sys.has(p));
    expect(namedIn(readme, '`make test` (its first step is `make testdeps`)', 'The lists are')).toEqual(new Set(extra));
    expect(prerequisites('demo')).toContain('deps');
    expect(prerequisites('deps')).toContain('sysdeps');
  });

  it('requireProgram names the program and its package when it is missing', () => {
    expect(requireProgram('ip')).toMatch(/\/ip$/);
    expect(() => requireProgram('containerd', '/nonexistent')).toThrow(
      'this test needs containerd (Debian package containerd), which is not installed: run `make testdeps`',
    );
  });
});
