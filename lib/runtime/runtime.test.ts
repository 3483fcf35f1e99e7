import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { addNetworkList, checkNetworkList, delNetworkList, gcNetworkList } from './chain';
import { listConfFiles, loadNetwork, parseConfList } from './config';
import { cachePath } from './cache';

let dir = '';
const EXAMPLES = resolve(__dirname, '..', '..', 'examples');

/** A fake plugin: logs its command, env and stdin, answers ADD with prevResult (or a fixed result). */
function fakePlugin(name: string): void {
  const script = `#!/bin/sh
in=$(cat)
echo "$CNI_COMMAND ${name} $CNI_CONTAINERID $CNI_IFNAME $in" >> "${dir}/log"
if [ "$CNI_COMMAND" = ADD ]; then echo '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.9/24"}],"interfaces":[{"name":"${name}"}]}'; fi
`;
  writeFileSync(join(dir, 'bin', name), script);
  chmodSync(join(dir, 'bin', name), 0o755);
}
const logLines = (): string[] => readFileSync(join(dir, 'log'), 'utf8').trim().split('\n');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tscni-rt-'));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'net.d'));
  fakePlugin('one');
  fakePlugin('two');
  writeFileSync(
    join(dir, 'net.d', '20-chain.conflist'),
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'chain',
      plugins: [{ type: 'one' }, { type: 'two', capabilities: { portMappings: true, mac: false } }],
    }),
  );
  writeFileSync(
    join(dir, 'net.d', '10-single.conf'),
    JSON.stringify({ cniVersion: '0.4.0', name: 'single', type: 'one' }),
  );
  writeFileSync(
    join(dir, 'net.d', '30-chain.conflist'),
    JSON.stringify({ cniVersion: '1.0.0', name: 'chain', plugins: [{ type: 'two' }] }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('configuration loading', () => {
  it('orders conflists before confs, each by name, and the first file wins', () => {
    expect(listConfFiles(join(dir, 'net.d')).map((f) => f.split('/').pop())).toEqual([
      '20-chain.conflist',
      '30-chain.conflist',
      '10-single.conf',
    ]);
    expect(loadNetwork(join(dir, 'net.d'), 'chain').plugins).toHaveLength(2);
    expect(loadNetwork(join(dir, 'net.d'), 'single').plugins[0]?.type).toBe('one');
  });
  it('picks the highest supported version from cniVersions', () => {
    expect(
      parseConfList(
        Buffer.from(JSON.stringify({ name: 'x', cniVersions: ['0.4.0', '1.1.0', '9.0.0'], plugins: [{ type: 'a' }] })),
        'a.conflist',
      ).cniVersion,
    ).toBe('1.1.0');
  });
  it.each(readdirSync(EXAMPLES).filter((f) => f.endsWith('.conflist')))('example %s loads', (f) => {
    expect(parseConfList(readFileSync(join(EXAMPLES, f)), f).plugins.length).toBeGreaterThan(0);
  });
});

describe('running a chain', () => {
  const rt = {
    containerId: 'cid1',
    netns: '/run/netns/x',
    ifName: 'eth0',
    args: [['K8S_POD_NAME', 'p'] as [string, string]],
    capabilityArgs: { portMappings: [{ hostPort: 1, containerPort: 2 }], mac: 'x' },
  };
  const opts = (): { cniPath: string[]; cacheDir: string } => ({
    cniPath: [join(dir, 'bin')],
    cacheDir: join(dir, 'cache'),
  });

  it('ADD injects name, version, runtimeConfig only for declared capabilities, and prevResult; caches the result', async () => {
    const list = loadNetwork(join(dir, 'net.d'), 'chain');
    await addNetworkList(list, rt, opts());
    const [first, second] = logLines().map((l) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>);
    expect(first).toMatchObject({ name: 'chain', cniVersion: '1.1.0', type: 'one' });
    expect(first?.['runtimeConfig']).toBeUndefined();
    expect(first?.['prevResult']).toBeUndefined();
    expect(second?.['runtimeConfig']).toEqual({ portMappings: [{ hostPort: 1, containerPort: 2 }] });
    expect(second?.['prevResult']).toMatchObject({ interfaces: [{ name: 'one' }] });
    const file = cachePath(join(dir, 'cache'), 'chain', 'cid1', 'eth0');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const cache = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(cache).toMatchObject({
      kind: 'cniCacheV1',
      containerId: 'cid1',
      ifName: 'eth0',
      networkName: 'chain',
      netns: '/run/netns/x',
      cniArgs: [['K8S_POD_NAME', 'p']],
    });
    expect(Buffer.from(cache['config'] as string, 'base64').toString()).toContain('"name":"chain"');
  });
  it('CHECK passes the cached result; DEL runs in reverse order and removes the cache', async () => {
    const list = loadNetwork(join(dir, 'net.d'), 'chain');
    writeFileSync(join(dir, 'log'), '');
    await checkNetworkList(list, rt, opts());
    await delNetworkList(list, rt, opts());
    const lines = logLines();
    expect(lines.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
      'CHECK one',
      'CHECK two',
      'DEL two',
      'DEL one',
    ]);
    expect(lines[2]).toContain('"prevResult"');
    expect(() => statSync(cachePath(join(dir, 'cache'), 'chain', 'cid1', 'eth0'))).toThrow();
  });
  it('GC deletes stale cached attachments and sends both attachment keys', async () => {
    const list = loadNetwork(join(dir, 'net.d'), 'chain');
    await addNetworkList(list, { ...rt, containerId: 'stale' }, opts());
    await addNetworkList(list, { ...rt, containerId: 'live' }, opts());
    writeFileSync(join(dir, 'log'), '');
    await gcNetworkList(list, [{ containerID: 'live', ifname: 'eth0' }], opts());
    const lines = logLines();
    expect(lines.filter((l) => l.startsWith('DEL')).map((l) => l.split(' ')[2])).toEqual(['stale', 'stale']);
    const gc = lines.find((l) => l.startsWith('GC one')) ?? '';
    expect(gc).toContain('"cni.dev/valid-attachments":[{"containerID":"live","ifname":"eth0"}]');
    expect(gc).toContain('"cni.dev/attachments"');
  });
  it('a link planted in the cache is never followed: an entry replaces it, results behind a link is refused', async () => {
    const list = loadNetwork(join(dir, 'net.d'), 'chain');
    const target = join(dir, 'precious');
    writeFileSync(target, 'keep me');
    const file = cachePath(join(dir, 'cache'), 'chain', 'linked', 'eth0');
    symlinkSync(target, file);
    // Read as no entry (CHECK finds none), replaced by ADD, removed by DEL: the target stays as it was.
    await expect(checkNetworkList(list, { ...rt, containerId: 'linked' }, opts())).rejects.toThrow(/no cached result/);
    await addNetworkList(list, { ...rt, containerId: 'linked' }, opts());
    expect(lstatSync(file).isFile()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('keep me');
    symlinkSync(target, cachePath(join(dir, 'cache'), 'chain', 'linked2', 'eth0'));
    await delNetworkList(list, { ...rt, containerId: 'linked2' }, opts());
    expect(readFileSync(target, 'utf8')).toBe('keep me');
    // `results` itself a link: refused, nothing written through it.
    const elsewhere = mkdtempSync(join(dir, 'elsewhere-'));
    mkdirSync(join(dir, 'cache2'));
    symlinkSync(elsewhere, join(dir, 'cache2', 'results'));
    await expect(
      addNetworkList(list, { ...rt, containerId: 'x' }, { ...opts(), cacheDir: join(dir, 'cache2') }),
    ).rejects.toThrow(/symbolic link/);
    expect(readdirSync(elsewhere)).toEqual([]);
  });
});
