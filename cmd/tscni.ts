/**
 * The one executable. `bin/bridge`, `bin/host-local`, ... are links to it: it runs the plugin
 * named by the name it was invoked by, and as `tscni <command>` it is the CLI (cnitool's
 * commands), and as `dhcp daemon` the dhcp plugin's daemon. Only the modules of what was asked
 * for are loaded.
 */
import { basename } from 'node:path';
import { pluginMain } from '../lib/cni/main';
import { lookupPlugin, PLUGIN_NAMES } from '../plugins/registry';
import { writeAll } from '../lib/stdio';

/**
 * The name this process was started as. A Bun executable sees its own argv[0] in `argv0` (its
 * `argv[1]` is an internal path); under Node.js the script is argv[1].
 */
function invokedName(): string {
  const script = process.argv[1] ?? '';
  const compiled = script.startsWith('/$bunfs/') || script === '';
  return basename(compiled ? process.argv0 : script).replace(/\.(ts|js)$/, '');
}

async function main(): Promise<void> {
  const name = invokedName();
  // The dhcp plugin's daemon, as the reference starts it: `dhcp daemon [flags]`.
  if (name === 'dhcp' && process.argv[2] === 'daemon')
    return (await import('../lib/dhcp/daemon')).daemonMain(process.argv.slice(3));
  const plugin = lookupPlugin(name);
  if (plugin) return pluginMain(plugin, { plugins: lookupPlugin });
  if (name === 'tscni' && process.argv[2] === 'plugins') return writeAll(1, PLUGIN_NAMES.join('\n') + '\n');
  if (name === 'tscni') return (await import('./cli')).cliMain(process.argv.slice(2));
  writeAll(2, `tscni: no plugin named ${JSON.stringify(name)}; run as tscni or through a plugin link\n`);
  process.exitCode = 1;
}

void main();
