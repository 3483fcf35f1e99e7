/**
 * Every plugin this executable contains, by the name it is invoked by (`bin/<name>` is a link to
 * `tscni`). A plugin's modules are imported only when it is called.
 */
import type { PluginEntry } from '../lib/cni/plugin';

export const PLUGINS: Readonly<Record<string, PluginEntry>> = {
  bridge: { about: 'CNI bridge plugin (tscni)', load: async () => (await import('./bridge/verbs')).verbs },
  'host-local': {
    about: 'CNI host-local plugin (tscni)',
    load: async () => (await import('./host-local/verbs')).verbs,
  },
  portmap: { about: 'CNI portmap plugin (tscni)', load: async () => (await import('./portmap/verbs')).verbs },
  firewall: { about: 'CNI firewall plugin (tscni)', load: async () => (await import('./firewall/verbs')).verbs },
  loopback: { about: 'CNI loopback plugin (tscni)', load: async () => (await import('./loopback/verbs')).verbs },
  tuning: { about: 'CNI tuning plugin (tscni)', load: async () => (await import('./tuning/verbs')).verbs },
  macvlan: { about: 'CNI macvlan plugin (tscni)', load: async () => (await import('./macvlan/verbs')).verbs },
  ipvlan: { about: 'CNI ipvlan plugin (tscni)', load: async () => (await import('./ipvlan/verbs')).verbs },
  ptp: { about: 'CNI ptp plugin (tscni)', load: async () => (await import('./ptp/verbs')).verbs },
};

export const PLUGIN_NAMES: readonly string[] = Object.keys(PLUGINS);

export const lookupPlugin = (name: string): PluginEntry | undefined =>
  Object.prototype.hasOwnProperty.call(PLUGINS, name) ? PLUGINS[name] : undefined;
