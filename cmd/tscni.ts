/**
 * The one executable. `bin/bridge`, `bin/host-local`, ... are links to it: it runs the plugin
 * named by the name it was invoked by, and as `tscni <command>` it is the CLI (cnitool's
 * commands), and as `dhcp daemon` the dhcp plugin's daemon. Only the modules of what was asked
 * for are loaded.
 */
import { versionAnswer } from '../lib/cni/version';
import { lookupPlugin, PLUGIN_NAMES } from '../plugins/registry';
import { writeAll } from '../lib/stdio';

/**
 * The name this process was started as. A Bun executable sees its own argv[0] in `argv0` (its
 * `argv[1]` is an internal path); under Node.js the script is argv[1].
 */
function invokedName(): string {
  const script = process.argv[1] ?? '';
  const compiled = script.startsWith('/$bunfs/') || script === '';
  const path = compiled ? process.argv0 : script;
  // not node:path's basename: node:path costs the executable ~60 page faults at start
  return path.slice(path.lastIndexOf('/') + 1).replace(/\.(ts|js)$/, '');
}

/**
 * The executable starts with JavaScriptCore's tier-up thresholds scaled up 100-fold (make build,
 * --compile-jit-policy): a plugin call runs its code once and exits, so compiling it is wasted
 * work and a JIT thread. The long-running modes (the dhcp daemon, the CLI's loops) ask for the
 * normal policy back.
 */
function normalJit(): void {
  if (typeof Bun !== 'undefined') Bun.unsafe.setJITPolicy(1);
}

async function main(): Promise<void> {
  const name = invokedName();
  // The dhcp plugin's daemon, as the reference starts it: `dhcp daemon [flags]`.
  if (name === 'dhcp' && process.argv[2] === 'daemon') {
    normalJit();
    return (await import('../lib/dhcp/daemon')).daemonMain(process.argv.slice(3));
  }
  const plugin = lookupPlugin(name);
  // VERSION needs nothing but CNI_COMMAND (the dispatcher answers it the same way): answered
  // before the dispatcher's modules load, so it costs little more than Bun's own start.
  if (plugin && process.env['CNI_COMMAND'] === 'VERSION') return writeAll(1, versionAnswer());
  if (plugin) return (await import('../lib/cni/main')).pluginMain(plugin, { plugins: lookupPlugin, pluginType: name });
  if (name === 'tscni' && process.argv[2] === 'plugins') return writeAll(1, PLUGIN_NAMES.join('\n') + '\n');
  if (name === 'tscni') {
    normalJit();
    return (await import('./cli')).cliMain(process.argv.slice(2));
  }
  writeAll(2, `tscni: no plugin named ${JSON.stringify(name)}; run as tscni or through a plugin link\n`);
  process.exitCode = 1;
}

void main();
