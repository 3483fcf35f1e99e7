// Lint rules: TypeScript's recommended set, no `any`, unused names only when prefixed with `_`,
// promises awaited or handled (typed rules), and the layers below: imports point down only.
import js from '@eslint/js';
import { readdirSync } from 'node:fs';
import { dirname, posix } from 'node:path';
import tseslint from 'typescript-eslint';

/**
 * The layers of production code, lowest first. A folder (with its subfolders) may import its own
 * files and folders of lower layers, nothing else: not the folders beside it in its layer, not
 * a higher one, never a test kit (lib/testutil, e2e, conformance, examples, bench) or a *.test file. So
 * every arrow points down and no two folders import each other. `lib/*.ts` are lib's own files
 * (log, stdio, undo, async); `plugins/*` is each plugin folder on its own; `plugins/*.ts` the
 * registry. Tests may import their own layer, those below and lib/testutil (and a plugin's tests
 * the registry, to run the plugin as the executable does).
 */
const LAYERS = [
  ['lib/*.ts', 'lib/sys', 'lib/addr', 'lib/types'], // logging, stdio, rollback; the C library; address text and math; declarations of untyped packages
  ['lib/exec', 'lib/netlink', 'lib/cri'], // the only process starter; rtnetlink; a CRI client
  ['lib/cni'], // the protocol: env, stdin, versions, config decoders, results, errors, delegation
  ['lib/ipam', 'lib/state', 'lib/net'], // host-local's store; tscni's run dir and marks; interfaces
  ['lib/firewall', 'lib/sublink', 'lib/link-plugin', 'lib/dhcp', 'lib/dns', 'lib/runtime', 'lib/deploy'], // rules; macvlan/ipvlan; tap/vlan/dummy; dhcp daemon; dnsname's files; libcni; installer
  ['lib/reload'], // tscni reload's engine and watcher
  ['lib/gc'], // tscni gc: which attachments are gone, collected by DEL
  ['plugins/*'], // each plugin: config and verbs
  ['plugins/*.ts'], // the registry
  ['cmd'], // the executable's entry and CLI
];
const TEST_ONLY = ['lib/testutil', 'e2e', 'conformance', 'examples', 'bench'];
const SKIP = new Set(['node_modules', 'bin', 'build', 'dist', 'coverage', '.git', '__golden__', 'testdata']);

/** Every folder holding TypeScript, relative to the repository ('.' excluded). */
function sourceDirs() {
  const out = new Set();
  for (const f of readdirSync('.', { recursive: true, encoding: 'utf8' })) {
    const parts = f.split('/');
    if (parts.some((p) => SKIP.has(p)) || !f.endsWith('.ts')) continue;
    if (parts.length > 1) out.add(dirname(f));
  }
  return [...out].sort();
}

/** The layer unit a folder belongs to ('lib/firewall' for lib/firewall/iptables). */
function unitOf(dir) {
  const [top, sub] = dir.split('/');
  if (top === 'lib' || top === 'plugins') return sub === undefined ? `${top}/*.ts` : `${top}/${sub}`;
  return top;
}

const dirs = sourceDirs();
const units = [...new Set(dirs.map(unitOf))];
const rankOf = (unit) =>
  LAYERS.findIndex(
    (l) => l.includes(unit) || (unit.startsWith('plugins/') && unit !== 'plugins/*.ts' && l.includes('plugins/*')),
  );
// A new folder must say where it sits: lint refuses to run until it is in LAYERS (or TEST_ONLY).
for (const u of units)
  if (rankOf(u) < 0 && !TEST_ONLY.includes(u) && !['e2e', 'conformance', 'examples'].includes(u.split('/')[0]))
    throw new Error(`eslint.config.mjs: ${u} is in no layer; add it to LAYERS`);
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The import texts (relative, as written in `dir`) that reach into `unit`. */
function reaching(dir, unit) {
  if (unit.endsWith('/*.ts')) {
    // The files of that folder itself, by name: `../netlink` is lib/netlink/index.ts, not a lib file.
    const base = unit.slice(0, -'/*.ts'.length);
    const names = readdirSync(base).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    const rel = posix.relative(dir, base) || '.';
    const prefix = rel.startsWith('.') ? rel : `./${rel}`;
    return `^${escape(prefix)}/(${names.map((f) => escape(f.slice(0, -3))).join('|')})(\\.ts)?$`;
  }
  const rel = posix.relative(dir, unit);
  const prefix = rel.startsWith('.') ? rel : `./${rel}`;
  return `^${escape(prefix)}(/|$)`;
}

/** For the files of one folder: what they may not import, as no-restricted-imports patterns. */
function forbidden(dir, test) {
  const own = unitOf(dir);
  const rank = rankOf(own);
  const out = [];
  for (const unit of units) {
    if (unit === own) continue;
    if (test && unit === 'lib/testutil') continue;
    if (test && own.startsWith('plugins/') && unit === 'plugins/*.ts') continue; // a plugin driven as the executable does
    let why;
    if (TEST_ONLY.includes(unit)) why = 'production code never imports test code';
    else if (rank >= 0 && rankOf(unit) >= rank) why = 'layers point down only (LAYERS in eslint.config.mjs)';
    else if (own === 'lib/testutil' && !unit.startsWith('lib/')) why = 'lib/ never imports plugins/ or cmd/';
    if (!why) continue;
    const pattern = reaching(dir, unit);
    out.push({ regex: pattern, message: `${own} may not import ${unit}: ${why}.` });
  }
  if (!test) out.push({ regex: '\\.test(\\.ts)?$', message: 'production code never imports a test.' });
  return out;
}

/** One config per folder (and one for its tests): no-restricted-imports keeps only the last match. */
function layerConfigs() {
  const configs = [];
  for (const dir of dirs) {
    const own = unitOf(dir);
    const testOnly = TEST_ONLY.includes(own) && own !== 'lib/testutil';
    if (testOnly) continue; // e2e, conformance, examples, bench: test code, free to use what they test
    for (const test of [false, true]) {
      const patterns = forbidden(dir, test || own === 'lib/testutil');
      const files = test ? [`${dir}/*.test.ts`] : [`${dir}/*.ts`];
      const ignores = test ? [] : [`${dir}/*.test.ts`];
      configs.push({
        files,
        ignores,
        rules: {
          'no-restricted-imports': ['error', { patterns }],
          // import() is not checked by no-restricted-imports: the same patterns as selectors.
          'no-restricted-syntax': [
            'error',
            ...patterns.map((p) => ({
              // esquery's regex ends at the first '/', whatever escapes it: '/' is written \x2F.
              selector: `ImportExpression[source.value=/${p.regex.replace(/\//g, '\\x2F')}/]`,
              message: p.message,
            })),
          ],
        },
      });
    }
  }
  return configs;
}

export default tseslint.config(
  { ignores: ['node_modules/', 'bin/', 'build/', 'dist/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  ...layerConfigs(),
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { module: 'writable', require: 'readonly', process: 'readonly', __dirname: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
