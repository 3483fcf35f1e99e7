/**
 * Every plugin this executable contains, by the name it is invoked by (`bin/<name>` is a link to
 * `tscni`), with the module of each verb it implements. Nothing here is imported until a call
 * needs it: a call loads only its plugin's verb (loopback keeps no state, so it has no GC).
 */
import { lazyVerbs, type PluginEntry, type VerbLoaders } from '../lib/cni/plugin';
import type { Reloader } from '../lib/reload/types';

const plugin = (about: string, verbs: VerbLoaders): PluginEntry => ({ about, load: async () => lazyVerbs(verbs) });

export const PLUGINS: Readonly<Record<string, PluginEntry>> = {
  bridge: plugin('CNI bridge plugin (tscni)', {
    add: () => import('./bridge/add'),
    del: () => import('./bridge/del'),
    check: () => import('./bridge/check'),
    gc: () => import('./bridge/gc'),
    status: () => import('./bridge/status'),
  }),
  'host-local': plugin('CNI host-local plugin (tscni)', {
    add: () => import('./host-local/add'),
    del: () => import('./host-local/del'),
    check: () => import('./host-local/check'),
    gc: () => import('./host-local/gc'),
    status: () => import('./host-local/status'),
  }),
  // `dhcp daemon` is the same executable in its long-running mode (cmd/tscni.ts, lib/dhcp/daemon.ts).
  dhcp: plugin('CNI dhcp plugin (tscni)', {
    add: () => import('./dhcp/add'),
    del: () => import('./dhcp/del'),
    check: () => import('./dhcp/check'),
    gc: () => import('./dhcp/gc'),
    status: () => import('./dhcp/status'),
  }),
  portmap: plugin('CNI portmap plugin (tscni)', {
    add: () => import('./portmap/add'),
    del: () => import('./portmap/del'),
    check: () => import('./portmap/check'),
    gc: () => import('./portmap/gc'),
    status: () => import('./portmap/status'),
  }),
  firewall: plugin('CNI firewall plugin (tscni)', {
    add: () => import('./firewall/add'),
    del: () => import('./firewall/del'),
    check: () => import('./firewall/check'),
    gc: () => import('./firewall/gc'),
    status: () => import('./firewall/status'),
  }),
  loopback: plugin('CNI loopback plugin (tscni)', {
    add: () => import('./loopback/add'),
    del: () => import('./loopback/del'),
    check: () => import('./loopback/check'),
    status: () => import('./loopback/status'),
  }),
  tuning: plugin('CNI tuning plugin (tscni)', {
    add: () => import('./tuning/add'),
    del: () => import('./tuning/del'),
    check: () => import('./tuning/check'),
    gc: () => import('./tuning/gc'),
    status: () => import('./tuning/status'),
  }),
  macvlan: plugin('CNI macvlan plugin (tscni)', {
    add: () => import('./macvlan/add'),
    del: () => import('./macvlan/del'),
    check: () => import('./macvlan/check'),
    gc: () => import('./macvlan/gc'),
    status: () => import('./macvlan/status'),
  }),
  ipvlan: plugin('CNI ipvlan plugin (tscni)', {
    add: () => import('./ipvlan/add'),
    del: () => import('./ipvlan/del'),
    check: () => import('./ipvlan/check'),
    gc: () => import('./ipvlan/gc'),
    status: () => import('./ipvlan/status'),
  }),
  ptp: plugin('CNI ptp plugin (tscni)', {
    add: () => import('./ptp/add'),
    del: () => import('./ptp/del'),
    check: () => import('./ptp/check'),
    gc: () => import('./ptp/gc'),
    status: () => import('./ptp/status'),
  }),
};

export const PLUGIN_NAMES: readonly string[] = Object.keys(PLUGINS);

export const lookupPlugin = (name: string): PluginEntry | undefined =>
  Object.prototype.hasOwnProperty.call(PLUGINS, name) ? PLUGINS[name] : undefined;

/** Plugins whose rules `tscni reload` puts back, by type: their reload module, loaded on first use. */
const RELOADERS: Readonly<Record<string, () => Promise<Reloader>>> = {
  bridge: async () => (await import('./bridge/reload')).reloader,
  portmap: async () => (await import('./portmap/reload')).reloader,
  firewall: async () => (await import('./firewall/reload')).reloader,
  ptp: async () => (await import('./ptp/reload')).reloader,
};

export const lookupReloader = (pluginType: string): Promise<Reloader> | undefined =>
  Object.prototype.hasOwnProperty.call(RELOADERS, pluginType) ? RELOADERS[pluginType]?.() : undefined;
