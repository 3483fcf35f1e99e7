/** The node cache moved on by watch events, the wake-up latch, and the watch's re-watching and 410 handling. */
import { describe, expect, it } from '@jest/globals';
import type { NodeEvent, NodeInfo } from './kube';
import { NodeCache, Wakeup, watchInto } from './watch';

const n = (name: string, ip = '172.18.0.1'): NodeInfo => ({ name, podCidrs: ['10.244.1.0/24'], internalIps: [ip] });

/** Resolves once `cond` holds (polled), so no test waits a fixed time. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

describe('NodeCache', () => {
  it('applies events; only a change that matters counts', () => {
    const c = new NodeCache();
    expect(c.expired).toBe(true);
    c.reset({ items: [n('a'), n('b')], resourceVersion: '1' });
    expect(c.expired).toBe(false);
    expect(c.apply({ type: 'MODIFIED', node: n('a'), resourceVersion: '2' })).toBe(false);
    expect(c.apply({ type: 'MODIFIED', node: n('a', '172.18.0.9'), resourceVersion: '3' })).toBe(true);
    expect(c.apply({ type: 'ADDED', node: n('c'), resourceVersion: '4' })).toBe(true);
    expect(c.apply({ type: 'DELETED', node: n('b'), resourceVersion: '5' })).toBe(true);
    expect(c.apply({ type: 'BOOKMARK', resourceVersion: '6' })).toBe(false);
    expect(c.list.map((x) => `${x.name} ${x.internalIps[0]}`)).toEqual(['a 172.18.0.9', 'c 172.18.0.1']);
    expect(c.takeChanges()).toEqual(['watch: node a changed', 'watch: node c added', 'watch: node b deleted']);
    c.reset({ items: [n('a', '172.18.0.9'), n('d')], resourceVersion: '7' });
    expect(c.takeChanges()).toEqual(['resync: node d added', 'resync: node c deleted']);
    expect(c.takeChanges()).toEqual([]);
    expect(c.apply({ type: 'ERROR', code: 500, message: 'x' })).toBe(true);
    expect(c.expired).toBe(true);
  });
});

describe('Wakeup', () => {
  it('a fire while nobody waits makes the next wait return at once; a wait ends when fired', async () => {
    const w = new Wakeup();
    w.fire();
    await w.wait(3_600_000);
    const waiting = w.wait(3_600_000);
    w.fire();
    await waiting;
  });
});

describe('watchInto', () => {
  it('re-watches from the last version seen, wakes on a change, stops on 410 with the cache expired', async () => {
    const cache = new NodeCache();
    cache.reset({ items: [n('a')], resourceVersion: '10' });
    const wake = new Wakeup();
    let fired = 0;
    const fire = wake.fire.bind(wake);
    wake.fire = () => {
      fired++;
      fire();
    };
    const froms: string[] = [];
    const script: NodeEvent[][] = [
      [{ type: 'ADDED', node: n('b'), resourceVersion: '11' }],
      [
        { type: 'BOOKMARK', resourceVersion: '12' },
        { type: 'ERROR', code: 410, message: 'too old' },
      ],
    ];
    const client = {
      watchNodes: async (from: string, on: (e: NodeEvent) => void): Promise<void> => {
        froms.push(from);
        for (const e of script.shift() ?? []) on(e);
      },
    };
    const warnings: string[] = [];
    const ac = watchInto(client, '10', cache, wake, (l) => warnings.push(l));
    await until(() => ac.signal.aborted);
    expect(froms).toEqual(['10', '11']);
    expect(cache.list.map((x) => x.name)).toEqual(['a', 'b']);
    expect(cache.expired).toBe(true);
    expect(fired).toBe(2);
    expect(warnings).toEqual([]);
  });

  it('a failing watch is retried after a back-off, with a warning, until aborted', async () => {
    let calls = 0;
    const client = {
      watchNodes: async (): Promise<void> => {
        calls++;
        throw new Error('watch nodes: connection refused');
      },
    };
    const warnings: string[] = [];
    const ac = watchInto(client, '1', new NodeCache(), new Wakeup(), (l) => warnings.push(l));
    await until(() => warnings.length > 0);
    ac.abort();
    expect(warnings[0]).toBe('watch nodes: connection refused (watching again in 1 s)');
    expect(calls).toBe(1);
  });
});
