/** The plugin contract every plugin shares: env, stdin, names, versions, output (SPEC §2, §5). */
import { describe, expect, it } from '@jest/globals';
import { ALL_VERSIONS, PLUGINS, errorOf, hasPlugin, invoke, oneJsonDocument } from './harness';

const attach = {
  CNI_CONTAINERID: 'conf-1',
  CNI_NETNS: '/run/netns/tscni-conformance-none',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/nonexistent',
};
const conf = (v = '1.0.0', name = 'confnet'): Record<string, unknown> => ({ cniVersion: v, name, type: 'x' });

describe.each(PLUGINS.filter(hasPlugin))('%s', (plugin) => {
  it('[spec] VERSION lists all seven versions without reading stdin', async () => {
    const r = await invoke(plugin, { CNI_COMMAND: 'VERSION' }, 'garbage');
    expect(r.code).toBe(0);
    const v = r.json as { cniVersion: string; supportedVersions: string[] };
    expect(v.supportedVersions).toEqual([...ALL_VERSIONS]);
    expect(ALL_VERSIONS).toContain(v.cniVersion);
  });

  it('without CNI_COMMAND prints its about text to stderr and exits 0', async () => {
    const r = await invoke(plugin, {});
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/CNI protocol versions supported/);
  });

  it.each([
    ['ADD', ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH']],
    ['DEL', ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH']],
    ['CHECK', ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH']],
  ])('%s with no attachment env names every missing variable (code 4)', async (cmd, vars) => {
    const r = await invoke(plugin, { CNI_COMMAND: cmd }, conf());
    expect(r.code).not.toBe(0);
    expect(errorOf(r).code).toBe(4);
    for (const v of vars) expect(errorOf(r).msg).toContain(v);
  });

  it('[spec] GC without CNI_PATH is code 4', async () => {
    const r = await invoke(plugin, { CNI_COMMAND: 'GC' }, conf('1.1.0'));
    expect(errorOf(r).code).toBe(4);
  });

  it.each(['', '{', '[1]', '{"cniVersion":"1.0.0",'])('stdin %j is a decoding error (code 6)', async (stdin) => {
    const r = await invoke(plugin, { CNI_COMMAND: 'ADD', ...attach }, stdin);
    expect(r.code).not.toBe(0);
    expect(errorOf(r).code).toBe(6);
  });

  it.each(['', '../etc', 'a/b', 'a b', '-x', 'a;b'])('network name %j is rejected (code 7)', async (name) => {
    const r = await invoke(plugin, { CNI_COMMAND: 'ADD', ...attach }, conf('1.0.0', name));
    expect(errorOf(r).code).toBe(7);
  });

  it.each([
    ['CNI_CONTAINERID', '../../etc'],
    ['CNI_CONTAINERID', '$(id)'],
    ['CNI_CONTAINERID', 'a;b'],
    ['CNI_IFNAME', 'eth0/x'],
    ['CNI_IFNAME', 'abcdefghijklmnop'],
    ['CNI_IFNAME', '..'],
  ])('%s=%j is rejected (code 4)', async (key, value) => {
    const r = await invoke(plugin, { CNI_COMMAND: 'ADD', ...attach, [key]: value }, conf());
    expect(errorOf(r).code).toBe(4);
  });

  it.each([
    ['ADD', '9.9.9'],
    ['DEL', '0.5.0'],
    ['CHECK', '0.3.1'],
    ['CHECK', '0.2.0'],
  ])('%s with cniVersion %s is an incompatible version (code 1)', async (cmd, version) => {
    const r = await invoke(plugin, { CNI_COMMAND: cmd, ...attach }, conf(version));
    expect(errorOf(r).code).toBe(1);
  });

  it.each([
    ['GC', '1.0.0'],
    ['STATUS', '0.4.0'],
  ])('[spec] %s with cniVersion %s is an incompatible version (code 1)', async (cmd, version) => {
    const r = await invoke(plugin, { CNI_COMMAND: cmd, ...attach }, conf(version));
    expect(errorOf(r).code).toBe(1);
  });

  it('stdin null is rejected as undecodable or as a config without a name (code 6 or 7)', async () => {
    const r = await invoke(plugin, { CNI_COMMAND: 'ADD', ...attach }, 'null');
    expect([6, 7]).toContain(errorOf(r).code);
  });

  it('a non-string cniVersion is a decoding error (code 6)', async () => {
    const r = await invoke(plugin, { CNI_COMMAND: 'ADD', ...attach }, { ...conf(), cniVersion: 1 });
    expect(errorOf(r).code).toBe(6);
  });

  it('[spec] an unknown CNI_COMMAND is code 4', async () => {
    const r = await invoke(plugin, { CNI_COMMAND: 'BOGUS' }, conf());
    expect(errorOf(r)).toMatchObject({ code: 4, msg: 'unknown CNI_COMMAND: BOGUS' });
  });

  it('errors are exactly one JSON document with code and msg on stdout', async () => {
    const r = await invoke(plugin, { CNI_COMMAND: 'ADD', ...attach }, '{');
    expect(oneJsonDocument(r.stdout)).toBe(true);
    expect(typeof errorOf(r).msg).toBe('string');
    expect(r.stdout).not.toMatch(/\n\s+at /);
  });
});
