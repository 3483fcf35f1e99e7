/**
 * Build step (not part of any plugin): turns an ncc bundle into the plugin executable, with V8's
 * code cache for the bundle embedded, so a call skips most JavaScript compilation.
 *
 * The output is still one self-contained file: a small loader holding the bundle source and the
 * cache as string literals. The cache is made by running the bundle once on a warm-up call that
 * has no effect outside a temporary directory, so the functions a real call needs are already
 * compiled. A node whose V8 rejects the cache (another version, other flags) compiles the source
 * as usual: the cache can make a call faster, never different.
 *
 * The command line is in code-cache-main.ts.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { Script } from 'node:vm';

/** The bundle as a CommonJS function body, exactly as the loader compiles it (the cache is tied to the text). */
export function wrapBundle(bundle: string): string {
  return `(function (exports, require, module, __filename, __dirname) {${bundle.replace(/^#!.*\n/, '')}\n})`;
}

/** The executable: shebang, the plugin marker line the in-process delegation looks for, the loader. */
export function renderLoader(plugin: string, wrapped: string, cache: Buffer | undefined): string {
  const cacheExpr = cache ? `Buffer.from(${JSON.stringify(cache.toString('base64'))}, "base64")` : 'undefined';
  return [
    '#!/usr/bin/env node',
    `// tscni-plugin: ${plugin}`,
    '"use strict";',
    '{',
    `  const script = new (require("node:vm").Script)(${JSON.stringify(wrapped)}, { filename: __filename, cachedData: ${cacheExpr} });`,
    '  if (process.env.TSCNI_DEBUG && script.cachedDataRejected) process.stderr.write("tscni debug: code cache rejected by this node; compiling\\n");',
    '  script.runInThisContext()(exports, require, module, __filename, __dirname);',
    '}',
    '',
  ].join('\n');
}

interface WarmUp {
  readonly env: Record<string, string>;
  readonly stdin: string;
}

/** A call per plugin that runs config parsing and most of the verb, touching only `dir`. */
function warmUpFor(plugin: string, dir: string): WarmUp | undefined {
  const range = { subnet: '10.250.0.0/24', dataDir: join(dir, 'ipam') };
  const ipam = { type: 'host-local', ...range };
  const base = { CNI_CONTAINERID: 'warmup', CNI_IFNAME: 'eth0', CNI_PATH: dir };
  switch (plugin) {
    case 'bridge':
      // Stops at the netns check, before any side effect.
      return {
        env: { ...base, CNI_COMMAND: 'ADD', CNI_NETNS: join(dir, 'no-such-netns') },
        stdin: JSON.stringify({ cniVersion: '1.0.0', name: 'warmup', type: 'bridge', isGateway: true, ipMasq: true, ipam }),
      };
    case 'host-local':
      // Allocates a lease in the temporary store.
      return { env: { ...base, CNI_COMMAND: 'ADD', CNI_NETNS: join(dir, 'netns') }, stdin: JSON.stringify({ cniVersion: '1.0.0', name: 'warmup', type: 'bridge', ipam }) };
    case 'portmap':
      // No port mappings: parses config and prevResult, returns prevResult.
      return {
        env: { ...base, CNI_COMMAND: 'ADD', CNI_NETNS: join(dir, 'netns') },
        stdin: JSON.stringify({
          cniVersion: '1.0.0',
          name: 'warmup',
          type: 'portmap',
          capabilities: { portMappings: true },
          prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: join(dir, 'netns') }], ips: [{ address: '10.250.0.2/24', interface: 0 }] },
        }),
      };
    default:
      return undefined;
  }
}

/** Runs the bundle in this process and writes the code cache when the process exits. */
export function warm(bundlePath: string, cachePath: string): void {
  const script = new Script(wrapBundle(readFileSync(bundlePath, 'utf8')), { filename: bundlePath });
  process.on('exit', () => writeFileSync(cachePath, script.createCachedData()));
  const mod = { exports: {} };
  const fn = script.runInThisContext() as (e: object, r: NodeJS.Require, m: object, f: string, d: string) => void;
  const abs = resolve(bundlePath);
  fn(mod.exports, createRequire(abs), mod, abs, dirname(abs));
}

/** Writes the executable for `plugin`; `self` is this tool's script, started again for the warm-up run. */
export function pack(self: string, plugin: string, bundlePath: string, outPath: string): void {
  const wrapped = wrapBundle(readFileSync(bundlePath, 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), 'tscni-codecache-'));
  let cache: Buffer | undefined;
  try {
    const w = warmUpFor(plugin, dir);
    if (w) {
      const cachePath = join(dir, 'cache');
      spawnSync(process.execPath, [self, 'warm', bundlePath, cachePath], { env: { PATH: process.env['PATH'] ?? '', ...w.env }, input: w.stdin, stdio: ['pipe', 'ignore', 'inherit'] });
      if (existsSync(cachePath)) cache = readFileSync(cachePath);
      else process.stderr.write(`code-cache: no cache for ${plugin}; the plugin will compile at start-up\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  writeFileSync(outPath, renderLoader(plugin, wrapped, cache));
  chmodSync(outPath, 0o755);
}
