/**
 * prevResult is input too: a chained plugin (portmap here) rejects on ADD and CHECK a prevResult
 * it cannot act on, names the offending path, and changes nothing; DEL cleans up regardless.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Sandbox } from '../lib/testutil/sandbox';
import { PLUGIN_DIR, errorOf, hasPlugin, pluginPath } from './harness';

const suite = hasPlugin('portmap') ? describe : describe.skip;
let sb: Sandbox;
beforeAll(async () => {
  sb = await Sandbox.create('prev');
  await sb.addContainer('c');
});
afterAll(async () => sb?.destroy());

const result = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', sandbox: '/run/netns/x' }],
  ips: [{ address: '10.61.0.2/24', interface: 0, gateway: '10.61.0.1' }],
  ...over,
});
const conf = (prevResult: unknown): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'prevnet',
  type: 'portmap',
  runtimeConfig: { portMappings: [{ hostPort: 8555, containerPort: 80, protocol: 'tcp' }] },
  prevResult,
});

suite('portmap prevResult validation', () => {
  const call = (command: string, prevResult: unknown): ReturnType<Sandbox['runPlugin']> =>
    sb.runPlugin(
      pluginPath('portmap'),
      { command, containerId: 'prev-1', netns: `/run/netns/${sb.nsName('c')}`, ifName: 'eth0', path: PLUGIN_DIR },
      conf(prevResult),
    );
  const nat = async (): Promise<string> => (await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout;

  it.each([
    ['an address that is not a CIDR', result({ ips: [{ address: '10.61.0.2', interface: 0 }] }), 'ips.0.address'],
    [
      'a gateway that is not an IP',
      result({ ips: [{ address: '10.61.0.2/24', interface: 0, gateway: 'x' }] }),
      'gateway',
    ],
    ['an interface index out of range', result({ ips: [{ address: '10.61.0.2/24', interface: 3 }] }), 'interface'],
    ['a route without a CIDR destination', result({ routes: [{ dst: 'default' }] }), 'routes.0.dst'],
    ['a result of another version family', { ...result(), cniVersion: '0.4.0' }, 'cniVersion'],
  ])('ADD and CHECK reject %s, naming it, and change nothing', async (_what, prev, path) => {
    for (const command of ['ADD', 'CHECK']) {
      const r = await call(command, prev);
      expect(r.code).not.toBe(0);
      expect(errorOf(r).msg).toBe('could not parse prevResult');
      expect(errorOf(r).details).toContain(path);
      expect([1, 7]).toContain(errorOf(r).code);
    }
    expect(await nat()).not.toContain('prev-1');
  });

  it('DEL with an unusable prevResult still removes the container’s forwarding', async () => {
    expect((await call('ADD', result())).code).toBe(0);
    expect(await nat()).toContain('prev-1');
    const r = await call('DEL', { ips: 'garbage' });
    expect(r.code).toBe(0);
    expect(await nat()).not.toContain('prev-1');
  });
});
