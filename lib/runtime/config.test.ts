/**
 * Network configuration files as libcni loads them (runtime/config.ts): a list or a single
 * plugin, the version picked, the flags, and the exact error texts naming the file. Directory
 * order and the examples: runtime.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listConfFiles, loadNetwork, parseConfList } from './config';

const parse = (obj: unknown, file = 'net.conflist'): ReturnType<typeof parseConfList> =>
  parseConfList(Buffer.from(JSON.stringify(obj)), file);

describe('a file', () => {
  it('a list keeps its plugins as written and its bytes (libcni caches them)', () => {
    const obj = { cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'bridge', bridge: 'br0' }, { type: 'portmap' }] };
    const l = parse(obj);
    expect(l).toMatchObject({
      name: 'n',
      cniVersion: '1.0.0',
      disableCheck: false,
      disableGC: false,
      file: 'net.conflist',
    });
    expect(l.plugins).toEqual(obj.plugins);
    expect(l.bytes.toString()).toBe(JSON.stringify(obj));
  });

  it('a .conf or .json is one plugin, up-converted to a list of itself', () => {
    const obj = { cniVersion: '0.4.0', name: 'single', type: 'bridge' };
    expect(parse(obj, '10-single.conf').plugins).toEqual([obj]);
    expect(parse(obj, '10-single.json').plugins).toEqual([obj]);
  });

  it('the version: the highest of cniVersion and cniVersions that is supported; 0.1.0 when none is', () => {
    expect(parse({ name: 'n', cniVersion: '0.3.1', cniVersions: ['1.0.0'], plugins: [{ type: 'a' }] }).cniVersion).toBe(
      '1.0.0',
    );
    expect(parse({ name: 'n', cniVersion: '2.0.0', plugins: [{ type: 'a' }] }).cniVersion).toBe('0.1.0');
    expect(parse({ name: 'n', cniVersions: ['x', 5, '0.4.0'], plugins: [{ type: 'a' }] }).cniVersion).toBe('0.4.0');
    expect(parse({ name: 'n', plugins: [{ type: 'a' }] }).cniVersion).toBe('0.1.0');
  });

  it('disableCheck and disableGC: true or "true" in any case', () => {
    const flags = (v: unknown): [boolean, boolean] => {
      const l = parse({ name: 'n', disableCheck: v, disableGC: v, plugins: [{ type: 'a' }] });
      return [l.disableCheck, l.disableGC];
    };
    expect(flags(true)).toEqual([true, true]);
    expect(flags('TRUE')).toEqual([true, true]);
    expect(flags('yes')).toEqual([false, false]);
    expect(flags(1)).toEqual([false, false]);
  });

  it('refusals name the file', () => {
    expect(() => parse({ name: 'n', plugins: [] }, '/etc/cni/net.d/a.conflist')).toThrow(
      '/etc/cni/net.d/a.conflist: no plugins in list',
    );
    expect(() => parse({ name: 'n' }, 'a.conflist')).toThrow('a.conflist: no plugins in list');
    expect(() => parse({ plugins: [{ type: 'a' }] }, 'a.conflist')).toThrow(
      'a.conflist: error parsing configuration list: no name',
    );
    expect(() => parse({ name: '', type: 'a' }, 'a.conf')).toThrow('a.conf: error parsing configuration list: no name');
    expect(() => parse({ name: 'n', plugins: [{ type: 'a' }, { bridge: 'x' }] }, 'a.conflist')).toThrow(
      'a.conflist: plugin 1 has no type',
    );
    expect(() => parse({ name: 'n', plugins: [null] }, 'a.conflist')).toThrow('a.conflist: plugin 0 has no type');
    expect(() => parseConfList(Buffer.from('{'), 'a.conflist')).toThrow(SyntaxError);
  });
});

describe('a directory', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tscni-netd-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('only .conflist, .conf and .json files count; one that does not parse is skipped when searching', () => {
    writeFileSync(join(dir, '00-broken.conflist'), '{');
    writeFileSync(join(dir, '05-notes.txt'), 'x');
    writeFileSync(join(dir, '10-net.conf'), JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'loopback' }));
    expect(listConfFiles(dir)).toEqual([join(dir, '00-broken.conflist'), join(dir, '10-net.conf')]);
    expect(loadNetwork(dir, 'net').file).toBe(join(dir, '10-net.conf'));
  });

  it('a network no file names is an error naming the network and the directory', () => {
    expect(() => loadNetwork(dir, 'missing')).toThrow(`no net configuration with name "missing" in ${dir}`);
  });
});
