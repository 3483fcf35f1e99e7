/**
 * The plugin directory a sandboxed runtime is given: our `bin/` copied as it is (symlinks kept,
 * nothing assumed about the files being scripts), the plugins we do not ship yet copied from the
 * reference, and a trace wrapper in front of each plugin a runtime calls.
 */
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR } from '../../lib/testutil/sandbox';

/**
 * Plugins the runtimes need that tscni does not ship yet; taken from the Debian reference
 * (`/usr/lib/cni`) until ours land, then removed from this list. CRI calls `loopback`; podman's
 * own conflists chain `firewall` and `tuning`.
 */
export const BORROWED_FROM_REFERENCE: readonly string[] = [];

/**
 * Files of `bin/` that are not wrapped, only linked: `tscni` is the CLI, and the IPAM plugins
 * `host-local` and `static` are found by the interface plugins through CNI_PATH; a link to our own
 * build keeps them running in the interface plugin's own process exactly as when installed (their
 * work shows in that plugin's call).
 */
const NOT_WRAPPED = new Set(['tscni', 'host-local', 'static']);

/** Copies the plugins into `realDir` and writes the wrapper directory `wrapDir`. */
export function installPlugins(ourBin: string, realDir: string, wrapDir: string, traceDir: string): void {
  if (!existsSync(join(ourBin, 'bridge'))) throw new Error(`${ourBin}/bridge is missing: run make build first`);
  cpSync(ourBin, realDir, { recursive: true, verbatimSymlinks: true });
  for (const name of BORROWED_FROM_REFERENCE) {
    if (existsSync(join(ourBin, name))) {
      // A whole other plugin dir (E2E_PLUGINS_DIR=/usr/lib/cni) brings its own.
      if (ourBin !== BIN_DIR) continue;
      throw new Error(
        `bin/${name} exists now: remove '${name}' from BORROWED_FROM_REFERENCE in e2e/harness/plugins.ts`,
      );
    }
    cpSync(join(REFERENCE_DIR, name), join(realDir, name));
  }
  mkdirSync(wrapDir, { recursive: true });
  mkdirSync(traceDir, { recursive: true });
  for (const name of readdirSync(realDir)) {
    const real = join(realDir, name);
    if (lstatSync(real).isDirectory()) continue;
    if (NOT_WRAPPED.has(name)) {
      symlinkSync(real, join(wrapDir, name));
      continue;
    }
    writeFileSync(join(wrapDir, name), wrapper(name, real, traceDir));
    chmodSync(join(wrapDir, name), 0o755);
  }
}

/** True for a plugin that came from the reference rather than from bin/. */
export const isBorrowed = (plugin: string): boolean => BORROWED_FROM_REFERENCE.includes(plugin);

// Records env, stdin, stdout, stderr and exit code of one call in its own directory, then
// behaves exactly like the plugin (same argv[0] base name, stdin, environment, output, exit code).
function wrapper(name: string, real: string, traceDir: string): string {
  return `#!/bin/sh
# tscni e2e trace wrapper for ${name}
d="${traceDir}/$(date +%s%N)-$$-${name}"
mkdir -p "$d"
env > "$d/env"
cat > "$d/stdin"
"${real}" "$@" < "$d/stdin" > "$d/stdout" 2> "$d/stderr"
rc=$?
echo "$rc" > "$d/rc"
cat "$d/stdout"
cat "$d/stderr" >&2
exit "$rc"
`;
}
