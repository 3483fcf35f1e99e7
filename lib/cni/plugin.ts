/**
 * What a plugin is to the dispatcher: a handler per verb it implements (a verb left out succeeds
 * silently, as in the reference's skel), loaded only when a call needs it, so VERSION and the
 * CLI never pay for a plugin's modules.
 */
import type { Invocation } from './dispatch';
import type { Result } from './result/types';

export interface PluginFuncs {
  add?(inv: Invocation): Promise<Result>;
  del?(inv: Invocation): Promise<void>;
  check?(inv: Invocation): Promise<void>;
  gc?(inv: Invocation): Promise<void>;
  status?(inv: Invocation): Promise<void>;
}

export interface PluginEntry {
  /** The line printed when the plugin is run without CNI_COMMAND. */
  readonly about: string;
  readonly load: () => Promise<PluginFuncs>;
}

/** Finds another plugin of this executable by its type (for in-process delegation). */
export type PluginLookup = (pluginType: string) => PluginEntry | undefined;
