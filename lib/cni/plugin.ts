/**
 * What a plugin is to the dispatcher: a handler per verb it implements (a verb left out succeeds
 * silently, as in the reference's skel), loaded only when a call needs it, so VERSION and the
 * CLI never pay for a plugin's modules.
 */
import type { Invocation } from './invocation';
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

type VerbName = keyof PluginFuncs;
/** Loads the module of one verb, which exports the handler under the verb's name. */
export type VerbLoaders = { [V in VerbName]?: () => Promise<Required<Pick<PluginFuncs, V>>> };

/**
 * A verb table whose handlers import their module on first call, so a call loads only the
 * code of the verb it runs.
 */
export function lazyVerbs(loaders: VerbLoaders): PluginFuncs {
  const funcs: PluginFuncs = {};
  const { add, del, check, gc, status } = loaders;
  if (add) funcs.add = async (inv) => (await add()).add(inv);
  if (del) funcs.del = async (inv) => (await del()).del(inv);
  if (check) funcs.check = async (inv) => (await check()).check(inv);
  if (gc) funcs.gc = async (inv) => (await gc()).gc(inv);
  if (status) funcs.status = async (inv) => (await status()).status(inv);
  return funcs;
}
