/**
 * The watcher's wake sources (lib/reload/watch.ts) on a real host: nftables change notices of
 * this network namespace, and firewalld's signals on the system bus. Each module is loaded
 * only when its source starts.
 */
import { existsSync } from 'node:fs';
import type { Env } from '../cni/io';
import type { WakeSource } from './watch';

/** Wakes on every notice that deleted something (rules, chains, tables, sets, elements), and on lost notices. */
export function nftablesSource(): WakeSource {
  let close: (() => void) | undefined;
  return {
    name: 'nftables events',
    async start(wake, lost) {
      const { listenNftEvents, removesRules } = await import('../netlink/nft-events');
      const src = listenNftEvents(
        (n) => {
          if (n === 'overflow') wake('nftables: notices lost');
          else if (removesRules(n.events)) {
            const tables = [...new Set(n.events.filter((e) => e.op === 'del').map((e) => e.table ?? '?'))];
            wake(`nftables: deleted in ${tables.join(', ')}`);
          }
        },
        (e) => lost(e),
      );
      close = () => src.close();
    },
    stop() {
      close?.();
      close = undefined;
    },
  };
}

/** Wakes on firewalld's Reloaded signal and on firewalld (re)starting. */
export function firewalldSource(env: Env): WakeSource {
  let close: (() => void) | undefined;
  return {
    name: 'firewalld signals',
    async start(wake, lost) {
      const { systemBusSocket } = await import('../firewall/firewalld');
      const socket = systemBusSocket(env);
      if (!socket || !existsSync(socket)) throw new Error(`no system bus socket${socket ? ` at ${socket}` : ''}`);
      const { watchFirewalld } = await import('../firewall/firewalld-signals');
      const w = await watchFirewalld(socket, wake, lost);
      close = () => w.close();
    },
    stop() {
      close?.();
      close = undefined;
    },
  };
}
