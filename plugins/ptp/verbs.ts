/**
 * ptp's verb table. Each verb's module is imported when that verb is called, so a call
 * loads only the code it runs.
 */
import type { PluginFuncs } from '../../lib/cni/plugin';

export const verbs: PluginFuncs = {
  add: async (inv) => (await import('./add')).add(inv),
  del: async (inv) => (await import('./del')).del(inv),
  check: async (inv) => (await import('./check')).check(inv),
  gc: async (inv) => (await import('./gc')).gc(inv),
  status: async (inv) => (await import('./status')).status(inv),
};
