/**
 * What one plugin call is, as the dispatcher hands it to a verb handler, and the attachment it is
 * about. Verbs take the whole Invocation; config loaders take the parsed config (and CNI_ARGS);
 * lower layers (firewall, state, reload) take an Attachment, never an Invocation.
 */
import type { Verb } from './env';
import type { Env } from './io';
import type { ContainerId, IfName, NetworkName } from './names';
import type { PluginLookup } from './plugin';
import type { CniVersion } from './version';

/** The parsed network configuration object (stdin as JSON; the plugin's entry of a list). */
export type NetConfig = Readonly<Record<string, unknown>>;

/** Everything a verb handler gets. Attachment fields are '' for GC and STATUS. */
export interface Invocation {
  readonly command: Verb;
  readonly containerId: ContainerId;
  readonly netns: string;
  readonly ifName: IfName;
  readonly cniArgs: string;
  readonly cniPath: readonly string[];
  readonly env: Env;
  /** The raw stdin bytes, passed unchanged to delegated plugins. */
  readonly stdin: Buffer;
  readonly config: NetConfig;
  readonly networkName: NetworkName;
  readonly cniVersion: CniVersion;
  /** The other plugins of this executable, for delegation without a new process. */
  readonly plugins?: PluginLookup;
  /** The plugin this call runs (its type), when known: it never delegates to itself. */
  readonly pluginType?: string;
  /** How many delegations led to this call (0 for a runtime's call; see delegate.ts). */
  readonly depth?: number;
}

/** One container interface of one network: what every rule, record and mark of it is found by. */
export interface Attachment {
  readonly networkName: NetworkName;
  readonly containerId: ContainerId;
  readonly ifName: IfName;
}

export const attachmentOf = (x: Attachment): Attachment => ({
  networkName: x.networkName,
  containerId: x.containerId,
  ifName: x.ifName,
});

/**
 * `<containerID>\0<ifname>`: the key of an attachment within one network (GC keep sets, rule
 * owners); NUL is in neither name. With a network name, the key across networks.
 */
export function attachmentKey(containerId: string, ifName: string, networkName?: string): string {
  const key = `${containerId}\u0000${ifName}`;
  return networkName === undefined ? key : `${networkName}\u0000${key}`;
}

/** The container ID of a key made without a network name. */
export const containerIdOfKey = (key: string): string => key.split('\u0000')[0] ?? '';
