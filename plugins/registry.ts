/**
 * Every plugin this executable contains, by the name it is invoked by (`bin/<name>` is a link to
 * `tscni`), with the module of each verb it implements. Nothing here is imported until a call
 * needs it: a call loads only its plugin's verb (loopback, static and sbr keep no state of their
 * own, so they have no GC; static and sbr have nothing to report in STATUS either; vrf keeps none
 * and depends on nothing outside the container, so it has neither). The interface plugins' verbs
 * get the machine here, as the `Kernel` seam (lib/net/kernel.ts).
 */
import type { Invocation } from '../lib/cni/invocation';
import { lazyVerbs, type PluginEntry, type VerbLoaders } from '../lib/cni/plugin';
import type { Result } from '../lib/cni/result/types';
import type { Kernel } from '../lib/net/kernel';
import type { Reloader } from '../lib/reload/types';

const plugin = (about: string, verbs: VerbLoaders): PluginEntry => ({ about, load: async () => lazyVerbs(verbs) });

/** Verb modules that take the machine as their second argument. */
interface KernelVerbLoaders {
  add?: () => Promise<{ add(inv: Invocation, kernel: Kernel): Promise<Result> }>;
  del?: () => Promise<{ del(inv: Invocation, kernel: Kernel): Promise<void> }>;
  check?: () => Promise<{ check(inv: Invocation, kernel: Kernel): Promise<void> }>;
  gc?: () => Promise<{ gc(inv: Invocation, kernel: Kernel): Promise<void> }>;
  status?: () => Promise<{ status(inv: Invocation, kernel: Kernel): Promise<void> }>;
}

/** The host's Kernel, loaded beside the verb's module when a call needs it (never at start-up). */
const hostKernel = async (): Promise<Kernel> => (await import('../lib/net/kernel')).hostKernel();

/** Binds each verb to the host's Kernel. */
function onHost(v: KernelVerbLoaders): VerbLoaders {
  const { add, del, check, gc, status } = v;
  const out: VerbLoaders = {};
  if (add)
    out.add = async () => {
      const [m, kernel] = await Promise.all([add(), hostKernel()]);
      return { add: (inv) => m.add(inv, kernel) };
    };
  if (del)
    out.del = async () => {
      const [m, kernel] = await Promise.all([del(), hostKernel()]);
      return { del: (inv) => m.del(inv, kernel) };
    };
  if (check)
    out.check = async () => {
      const [m, kernel] = await Promise.all([check(), hostKernel()]);
      return { check: (inv) => m.check(inv, kernel) };
    };
  if (gc)
    out.gc = async () => {
      const [m, kernel] = await Promise.all([gc(), hostKernel()]);
      return { gc: (inv) => m.gc(inv, kernel) };
    };
  if (status)
    out.status = async () => {
      const [m, kernel] = await Promise.all([status(), hostKernel()]);
      return { status: (inv) => m.status(inv, kernel) };
    };
  return out;
}

export const PLUGINS: Readonly<Record<string, PluginEntry>> = {
  bridge: plugin(
    'CNI bridge plugin (tscni)',
    onHost({
      add: () => import('./bridge/add'),
      del: () => import('./bridge/del'),
      check: () => import('./bridge/check'),
      gc: () => import('./bridge/gc'),
      status: () => import('./bridge/status'),
    }),
  ),
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
  loopback: plugin(
    'CNI loopback plugin (tscni)',
    onHost({
      add: () => import('./loopback/add'),
      del: () => import('./loopback/del'),
      check: () => import('./loopback/check'),
      status: () => import('./loopback/status'),
    }),
  ),
  tuning: plugin('CNI tuning plugin (tscni)', {
    ...onHost({
      add: () => import('./tuning/add'),
      del: () => import('./tuning/del'),
      check: () => import('./tuning/check'),
    }),
    gc: () => import('./tuning/gc'),
    status: () => import('./tuning/status'),
  }),
  macvlan: plugin(
    'CNI macvlan plugin (tscni)',
    onHost({
      add: () => import('./macvlan/add'),
      del: () => import('./macvlan/del'),
      check: () => import('./macvlan/check'),
      gc: () => import('./macvlan/gc'),
      status: () => import('./macvlan/status'),
    }),
  ),
  ipvlan: plugin(
    'CNI ipvlan plugin (tscni)',
    onHost({
      add: () => import('./ipvlan/add'),
      del: () => import('./ipvlan/del'),
      check: () => import('./ipvlan/check'),
      gc: () => import('./ipvlan/gc'),
      status: () => import('./ipvlan/status'),
    }),
  ),
  'host-device': plugin(
    'CNI host-device plugin (tscni)',
    onHost({
      add: () => import('./host-device/add'),
      del: () => import('./host-device/del'),
      check: () => import('./host-device/check'),
      gc: () => import('./host-device/gc'),
      status: () => import('./host-device/status'),
    }),
  ),
  static: plugin('CNI static plugin (tscni)', {
    add: () => import('./static/add'),
    del: () => import('./static/del'),
    check: () => import('./static/check'),
  }),
  dnsname: plugin('CNI dnsname plugin (tscni)', {
    add: () => import('./dnsname/add'),
    del: () => import('./dnsname/del'),
    check: () => import('./dnsname/check'),
    gc: () => import('./dnsname/gc'),
    status: () => import('./dnsname/status'),
  }),
  sbr: plugin(
    'CNI sbr plugin (tscni)',
    onHost({
      add: () => import('./sbr/add'),
      del: () => import('./sbr/del'),
      check: () => import('./sbr/check'),
    }),
  ),
  ptp: plugin(
    'CNI ptp plugin (tscni)',
    onHost({
      add: () => import('./ptp/add'),
      del: () => import('./ptp/del'),
      check: () => import('./ptp/check'),
      gc: () => import('./ptp/gc'),
      status: () => import('./ptp/status'),
    }),
  ),
  tap: plugin(
    'CNI tap plugin (tscni)',
    onHost({
      add: () => import('./tap/add'),
      del: () => import('./tap/del'),
      check: () => import('./tap/check'),
      gc: () => import('./tap/gc'),
      status: () => import('./tap/status'),
    }),
  ),
  vlan: plugin(
    'CNI vlan plugin (tscni)',
    onHost({
      add: () => import('./vlan/add'),
      del: () => import('./vlan/del'),
      check: () => import('./vlan/check'),
      gc: () => import('./vlan/gc'),
      status: () => import('./vlan/status'),
    }),
  ),
  vrf: plugin(
    'CNI vrf plugin (tscni)',
    onHost({
      add: () => import('./vrf/add'),
      del: () => import('./vrf/del'),
      check: () => import('./vrf/check'),
    }),
  ),
  dummy: plugin(
    'CNI dummy plugin (tscni)',
    onHost({
      add: () => import('./dummy/add'),
      del: () => import('./dummy/del'),
      check: () => import('./dummy/check'),
      gc: () => import('./dummy/gc'),
      status: () => import('./dummy/status'),
    }),
  ),
  bandwidth: plugin(
    'CNI bandwidth plugin (tscni)',
    onHost({
      add: () => import('./bandwidth/add'),
      del: () => import('./bandwidth/del'),
      check: () => import('./bandwidth/check'),
      gc: () => import('./bandwidth/gc'),
      status: () => import('./bandwidth/status'),
    }),
  ),
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
