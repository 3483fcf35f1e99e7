/**
 * Every plugin this executable contains, by the name it is invoked by (`bin/<name>` is a link to
 * `tscni`). A plugin's modules are imported only when it is called.
 */
import type { PluginEntry } from '../lib/cni/plugin';
import type { Reloader } from '../lib/reload/types';

export const PLUGINS: Readonly<Record<string, PluginEntry>> = {
  bridge: { about: 'CNI bridge plugin (tscni)', load: async () => (await import('./bridge/verbs')).verbs },
  'host-local': {
    about: 'CNI host-local plugin (tscni)',
    load: async () => (await import('./host-local/verbs')).verbs,
  },
  portmap: { about: 'CNI portmap plugin (tscni)', load: async () => (await import('./portmap/verbs')).verbs },
  firewall: { about: 'CNI firewall plugin (tscni)', load: async () => (await import('./firewall/verbs')).verbs },
};

export const PLUGIN_NAMES: readonly string[] = Object.keys(PLUGINS);

export const lookupPlugin = (name: string): PluginEntry | undefined =>
  Object.prototype.hasOwnProperty.call(PLUGINS, name) ? PLUGINS[name] : undefined;

/** Plugins whose rules `tscni reload` puts back, by type: their reload module, loaded on first use. */
const RELOADERS: Readonly<Record<string, () => Promise<Reloader>>> = {
  bridge: async () => (await import('./bridge/reload')).reloader,
  portmap: async () => (await import('./portmap/reload')).reloader,
  firewall: async () => (await import('./firewall/reload')).reloader,
};

export const lookupReloader = (pluginType: string): Promise<Reloader> | undefined =>
  Object.prototype.hasOwnProperty.call(RELOADERS, pluginType) ? RELOADERS[pluginType]?.() : undefined;
