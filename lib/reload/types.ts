/**
 * What `tscni reload` asks of a plugin: the groups of rules ("concerns") one attachment needs,
 * each able to say whether it is intact — from the pass's one reading of the firewall
 * (lib/firewall/snapshot.ts) or, where that cannot tell, by checking as CHECK does — to put
 * itself back, and to take back what it put back.
 * A plugin builds its concerns from its own config and the cached result, the same way its CHECK
 * and ADD do, and acts through the FirewallDriver, whose setup is idempotent per attachment.
 */
import type { Attachment, NetConfig } from '../cni/invocation';
import type { Env } from '../cni/io';
import type { NetworkName } from '../cni/names';
import type { CniVersion } from '../cni/version';
import type { Runner } from '../exec/runner';
import type { RestoreBatch } from '../firewall/batch';
import type { Finding, RulesetSnapshot } from '../firewall/snapshot';
import type { LeaseRef } from '../ipam/lease-refs';

export interface Concern {
  /** What the rules are for, e.g. "masquerade", "port forwarding". */
  readonly what: string;
  /**
   * Judges the rules from the pass's snapshot without starting a program of its own; 'unsure'
   * (or no inspect at all) leaves it to check.
   */
  inspect?(snap: RulesetSnapshot): Promise<Finding>;
  /** Resolves when every rule is in place; throws naming the first missing one. */
  check(): Promise<void>;
  /** Puts the rules back; rules already there are kept, none is added twice. */
  restore(): Promise<void>;
  /**
   * Renders what restore would write into the pass's batch (one transaction per family for every
   * container); throws, or is absent, where it cannot — restore then runs on its own.
   */
  stage?(batch: RestoreBatch): Promise<void>;
  /** Removes what restore put back: the attachment was torn down while reload ran. */
  undo(): Promise<void>;
}

/** One attachment reload knows about, with where that knowledge comes from. */
export interface Target {
  readonly attachment: Attachment;
  /** The container's netns path ('' when not known): gone means the container is gone. */
  readonly netns: string;
  /** host-local leases that must still name the attachment (empty when the IPAM is not host-local). */
  readonly leases: readonly LeaseRef[];
  readonly concerns: readonly Concern[];
  /** 'cache' (libcni's result cache), 'leases' or 'records' (no cache entry). */
  readonly source: 'cache' | 'leases' | 'records';
}

export type State = 'intact' | 'restored' | 'broken' | 'skipped' | 'gone' | 'failed';

/** One line of reload's report. */
export interface Outcome {
  /** `<network>/<containerID>/<ifname>`, or the cache file that could not be used. */
  readonly subject: string;
  readonly what: string;
  readonly state: State;
  readonly detail?: string;
}

/** One plugin of a network list as reload hands it to the plugin's reload module. */
export interface ReloadConf {
  /**
   * The plugin's config as the runtime passed it (name, cniVersion, runtimeConfig), with the
   * cached result as prevResult when there is one.
   */
  readonly config: NetConfig;
  /** The runtime's CNI_ARGS of the attachment ('' when not known). */
  readonly cniArgs: string;
  readonly cniVersion: CniVersion;
  readonly networkName: NetworkName;
  readonly env: Env;
}

/** A plugin's reload module (plugins/<type>/reload.ts), found through the registry. */
export interface Reloader {
  /**
   * The concerns of one attachment, and the host-local leases that must still name it. Throws
   * on a config or cached result that does not validate (as CHECK would).
   */
  concerns(conf: ReloadConf, a: Attachment, runner: Runner): { concerns: Concern[]; leases: LeaseRef[] };
  /**
   * Attachments the plugin's own state knows (leases, records) from the network's config alone:
   * for containers of runtimes that keep no libcni cache. Those with a cache entry are ignored.
   */
  known?(conf: ReloadConf, runner: Runner): Promise<Target[]>;
}

export type ReloaderLookup = (pluginType: string) => Promise<Reloader> | undefined;
