import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCache, readNetconfs } from './sources';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function fresh(): { cache: string; netconf: string } {
  const d = mkdtempSync(join(tmpdir(), 'tscni-sources-'));
  dirs.push(d);
  mkdirSync(join(d, 'cache', 'results'), { recursive: true });
  mkdirSync(join(d, 'net.d'));
  return { cache: join(d, 'cache'), netconf: join(d, 'net.d') };
}
const list = { cniVersion: '1.0.0', name: 'net1', plugins: [{ type: 'bridge' }, { type: 'portmap' }] };
const entry = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  kind: 'cniCacheV1',
  containerId: 'c1',
  ifName: 'eth0',
  networkName: 'net1',
  netns: '/run/netns/c1',
  config: Buffer.from(JSON.stringify(list)).toString('base64'),
  capabilityArgs: { portMappings: [{ hostPort: 80, containerPort: 80 }] },
  result: { cniVersion: '1.0.0', ips: [] },
  ...over,
});
const put = (cache: string, name: string, e: unknown): void =>
  writeFileSync(join(cache, 'results', name), typeof e === 'string' ? e : JSON.stringify(e));

describe('libcni cache entries', () => {
  it('are read with their config list, capability args and result', () => {
    const { cache, netconf } = fresh();
    put(cache, 'net1-c1-eth0', entry());
    const { entries, unusable } = readCache(cache, netconf);
    expect(unusable).toEqual([]);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      attachment: { networkName: 'net1', containerId: 'c1', ifName: 'eth0' },
      netns: '/run/netns/c1',
      capabilityArgs: { portMappings: [{ hostPort: 80, containerPort: 80 }] },
    });
    expect(entries[0]?.list.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
  });

  it('of a single plugin config (AddNetwork) are a list of one', () => {
    const { cache, netconf } = fresh();
    const conf = { cniVersion: '1.0.0', name: 'net1', type: 'bridge' };
    put(cache, 'net1-c1-eth0', entry({ config: Buffer.from(JSON.stringify(conf)).toString('base64') }));
    expect(readCache(cache, netconf).entries[0]?.list.plugins.map((p) => p.type)).toEqual(['bridge']);
  });

  it('without a config take the network from NETCONFPATH', () => {
    const { cache, netconf } = fresh();
    writeFileSync(join(netconf, '10-net1.conflist'), JSON.stringify(list));
    put(cache, 'net1-c1-eth0', entry({ config: undefined }));
    expect(readCache(cache, netconf).entries[0]?.list.file).toBe(join(netconf, '10-net1.conflist'));
  });

  it.each([
    ['not JSON', 'net1-c1-eth0', '{', /JSON/],
    ['another kind', 'net1-c1-eth0', entry({ kind: 'v2' }), /not a cniCacheV1 entry/],
    ['a bad container ID', 'net1-c;1-eth0', entry({ containerId: 'c;1' }), /invalid characters in containerID/],
    ['a bad interface name', 'net1-c1-e 0', entry({ ifName: 'e 0' }), /interface name contains/],
    ['a bad network name', 'n$-c1-eth0', entry({ networkName: 'n$' }), /invalid characters found in network name/],
    ['a file name of another attachment', 'net1-c2-eth0', entry(), /file name does not match/],
    ['a relative netns', 'net1-c1-eth0', entry({ netns: 'run/netns/c1' }), /netns is not an absolute path/],
    [
      'a config of another network',
      'net1-c1-eth0',
      entry({ config: Buffer.from(JSON.stringify({ ...list, name: 'other' })).toString('base64') }),
      /its config is of network "other"/,
    ],
    ['capability args that are no object', 'net1-c1-eth0', entry({ capabilityArgs: [1] }), /capabilityArgs/],
  ])('with %s are reported, not used', (_what, name, e, why) => {
    const { cache, netconf } = fresh();
    put(cache, name, e);
    const { entries, unusable } = readCache(cache, netconf);
    expect(entries).toEqual([]);
    expect(unusable).toHaveLength(1);
    expect(unusable[0]?.why).toMatch(why);
  });

  it('behind a link are reported, never followed; directories and temp files are skipped', () => {
    const { cache, netconf } = fresh();
    const outside = join(cache, '..', 'outside.json');
    writeFileSync(outside, JSON.stringify(entry()));
    symlinkSync(outside, join(cache, 'results', 'net1-c1-eth0'));
    mkdirSync(join(cache, 'results', 'net1-c2-eth0'));
    put(cache, '.net1-c3-eth0.0123456789ab.tmp', entry({ containerId: 'c3' }));
    const { entries, unusable } = readCache(cache, netconf);
    expect(entries).toEqual([]);
    expect(unusable).toEqual([{ file: join(cache, 'results', 'net1-c1-eth0'), why: expect.stringMatching(/link/) }]);
  });

  it('do not exist without a cache directory', () => {
    expect(readCache('/nonexistent', '/nonexistent')).toEqual({ entries: [], unusable: [] });
  });
});

describe('NETCONFPATH', () => {
  it('gives every network once (the first file wins) and skips what does not parse', () => {
    const { netconf } = fresh();
    writeFileSync(join(netconf, '10-a.conflist'), JSON.stringify(list));
    writeFileSync(join(netconf, '20-b.conflist'), JSON.stringify({ ...list, cniVersion: '0.4.0' }));
    writeFileSync(join(netconf, '30-c.conf'), '{');
    const got = readNetconfs(netconf);
    expect(got.map((l) => [l.name, l.cniVersion])).toEqual([['net1', '1.0.0']]);
  });
});
