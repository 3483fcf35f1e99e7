/**
 * Keeping the installer's view of the nodes current between full rounds: a cache filled by a
 * list and moved on by a watch from the list's resourceVersion (the informer pattern), and a
 * wake-up the watch fires when a node that matters changed, so the next round runs at once
 * instead of at the next interval. Every full round lists again and restarts the watch, so a
 * missed event, a dropped stream or an expired resourceVersion (410) costs at most one interval.
 */
import type { KubeClient, NodeEvent, NodeInfo, NodeList } from './kube';

/** Nodes by name, as the last list plus the watch events since say. */
export class NodeCache {
  private readonly nodes = new Map<string, NodeInfo>();
  /** The watch answered 410 Gone (or failed for good): the next round must list. */
  expired = true;
  /** What changed since the last `takeChanges`, as `watch: node x added` / `resync: node x deleted`. */
  private changes: string[] = [];

  /** Replaces the cache with a fresh list; what differs from before is noted as found by the resync. */
  reset(list: NodeList): void {
    const before = new Map(this.nodes);
    this.nodes.clear();
    for (const n of list.items) this.nodes.set(n.name, n);
    if (before.size > 0) {
      for (const n of list.items) this.note('resync', n.name, before.get(n.name), n);
      for (const name of before.keys()) if (!this.nodes.has(name)) this.changes.push(`resync: node ${name} deleted`);
    }
    this.expired = false;
  }

  /** Applies one event; true when what a round uses (pod CIDRs, addresses, our annotations) changed. */
  apply(ev: NodeEvent): boolean {
    if (ev.type === 'BOOKMARK') return false;
    if (ev.type === 'ERROR') {
      this.expired = true;
      return true;
    }
    const before = this.nodes.get(ev.node.name);
    if (ev.type === 'DELETED') {
      if (!this.nodes.delete(ev.node.name)) return false;
      this.changes.push(`watch: node ${ev.node.name} deleted`);
      return true;
    }
    this.nodes.set(ev.node.name, ev.node);
    return this.note('watch', ev.node.name, before, ev.node);
  }

  private note(how: string, name: string, before: NodeInfo | undefined, after: NodeInfo): boolean {
    if (before && JSON.stringify(before) === JSON.stringify(after)) return false;
    this.changes.push(`${how}: node ${name} ${before ? 'changed' : 'added'}`);
    return true;
  }

  takeChanges(): string[] {
    return this.changes.splice(0);
  }

  get list(): NodeInfo[] {
    return [...this.nodes.values()];
  }
}

/** A latch a round waits on: fired while nobody waits, the next wait returns at once. */
export class Wakeup {
  private pending = false;
  private wake: (() => void) | undefined;

  fire(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Resolves after `ms` or when fired, whichever is first. */
  async wait(ms: number): Promise<void> {
    if (!this.pending)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    this.wake = undefined;
    this.pending = false;
  }
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/**
 * Watches nodes from `resourceVersion` into `cache` until aborted, re-watching from the last
 * version seen when the server ends the stream, backing off (1 s doubling to 30 s) when it fails.
 * A 410 (the version is too old) marks the cache expired and stops: the next round lists.
 */
export function watchInto(
  client: Pick<KubeClient, 'watchNodes'>,
  resourceVersion: string,
  cache: NodeCache,
  wake: Wakeup,
  warn: (line: string) => void,
): AbortController {
  const ac = new AbortController();
  void (async () => {
    let from = resourceVersion;
    let backoff = 1000;
    while (!ac.signal.aborted) {
      let events = 0;
      try {
        await client.watchNodes(
          from,
          (ev) => {
            events++;
            if (ev.type === 'ERROR') {
              if (ev.code === 410) {
                cache.expired = true;
                wake.fire();
                ac.abort();
                return;
              }
              throw new Error(`watch nodes: error event ${ev.code}: ${ev.message}`);
            }
            if (ev.resourceVersion) from = ev.resourceVersion;
            if (cache.apply(ev)) wake.fire();
          },
          ac.signal,
        );
        // A stream the server ends at once, again and again, is not hammered.
        if (events === 0) {
          await sleep(backoff, ac.signal);
          backoff = Math.min(backoff * 2, 30_000);
        } else backoff = 1000;
      } catch (e) {
        if (ac.signal.aborted) break;
        warn(`${(e as Error).message} (watching again in ${backoff / 1000} s)`);
        await sleep(backoff, ac.signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  })();
  return ac;
}
