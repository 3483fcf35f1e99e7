/** The image builder's pieces: ustar headers, ldd parsing, layer contents, determinism. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, iptablesLinks, layerEntries, parseLdd, type ImageInput } from './image';
import { header, parentDirs, writeTar } from './tar';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tscni-img-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('tar', () => {
  it('writes headers GNU tar reads back with owner 0:0, fixed mtime and exact modes', () => {
    const out = join(dir, 't.tar');
    writeFileSync(join(dir, 'big'), Buffer.alloc(70_000, 1));
    writeTar(
      out,
      [
        { type: 'dir', path: 'opt', mode: 0o755 },
        { type: 'file', path: 'opt/a', mode: 0o644, bytes: Buffer.from('hello') },
        { type: 'disk', path: 'opt/big', mode: 0o755, file: join(dir, 'big'), size: 70_000 },
        { type: 'symlink', path: 'opt/link', target: 'a' },
        { type: 'dir', path: 'tmp', mode: 0o1777 },
        { type: 'file', path: `${'d'.repeat(90)}/${'f'.repeat(90)}`, mode: 0o600, bytes: Buffer.from('') },
      ],
      86400,
    );
    const list = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', out], {
      encoding: 'utf8',
      env: { TZ: 'UTC' },
    });
    expect(list.trim().split('\n')).toEqual([
      'drwxr-xr-x 0/0               0 1970-01-02 00:00:00 opt/',
      '-rw-r--r-- 0/0               5 1970-01-02 00:00:00 opt/a',
      '-rwxr-xr-x 0/0           70000 1970-01-02 00:00:00 opt/big',
      'lrwxrwxrwx 0/0               0 1970-01-02 00:00:00 opt/link -> a',
      'drwxrwxrwt 0/0               0 1970-01-02 00:00:00 tmp/',
      `-rw------- 0/0               0 1970-01-02 00:00:00 ${'d'.repeat(90)}/${'f'.repeat(90)}`,
    ]);
    expect(execFileSync('tar', ['-xOf', out, 'opt/a'], { encoding: 'utf8' })).toBe('hello');
  });

  it('refuses unsafe paths', () => {
    expect(() => header({ type: 'dir', path: '/abs', mode: 0o755 }, 0)).toThrow(/unsafe path/);
    expect(() => header({ type: 'dir', path: 'a/../b', mode: 0o755 }, 0)).toThrow(/unsafe path/);
  });

  it('lists parent directories once', () => {
    expect(parentDirs(['a/b/c', 'a/b/d', 'e']).map((d) => d.path)).toEqual(['a', 'a/b']);
  });
});

describe('parseLdd', () => {
  it('keeps every resolved library and the loader, skips the vDSO', () => {
    const text = [
      '\tlinux-vdso.so.1 (0x00007ffd6b5f2000)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0a1c000000)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f0a1c3f0000)',
      '\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f0a1bf00000)',
    ].join('\n');
    expect(parseLdd(text)).toEqual([
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib64/ld-linux-x86-64.so.2',
      '/lib/x86_64-linux-gnu/libm.so.6',
    ]);
    expect(() => parseLdd('\tlibfoo.so.1 => not found')).toThrow(/missing library/);
  });
});

describe('buildImage', () => {
  const input = (): ImageInput => {
    writeFileSync(join(dir, 'tscni'), 'pretend executable', { mode: 0o700 });
    writeFileSync(join(dir, 'libc-2.36.so'), 'pretend libc');
    symlinkSync('libc-2.36.so', join(dir, 'libc.so.6'));
    return {
      exe: join(dir, 'tscni'),
      plugins: ['bridge', 'portmap'],
      programs: [],
      libraries: [join(dir, 'libc.so.6')],
      links: iptablesLinks({ nft: '/usr/sbin/xtables-nft-multi', legacy: '/usr/sbin/xtables-legacy-multi' }),
      ref: 'localhost/tscni:9.9.9',
      version: '9.9.9',
      arch: 'amd64',
      epoch: 0,
    };
  };

  it('layer: executable, links, libraries (the file behind a symlink), /tmp, /run, /var/run, parents', () => {
    const entries = layerEntries(input());
    const paths = entries.map((e) => `${e.type} ${e.path}`);
    expect(paths).toContain('disk opt/tscni/bin/tscni');
    expect(paths).toContain('symlink opt/tscni/bin/bridge');
    expect(paths).toContain(`disk ${join(dir, 'libc.so.6').slice(1)}`);
    expect(paths).toContain('dir tmp');
    expect(paths).toContain('dir run');
    expect(paths).toContain('dir var');
    expect(entries).toContainEqual({ type: 'symlink', path: 'var/run', target: '../run' });
    // One directory of iptables program links per mode, each to its multi-call binary.
    for (const [mode, multi] of [
      ['nft', '/usr/sbin/xtables-nft-multi'],
      ['legacy', '/usr/sbin/xtables-legacy-multi'],
    ] as const)
      for (const p of [
        'iptables',
        'iptables-save',
        'iptables-restore',
        'ip6tables',
        'ip6tables-save',
        'ip6tables-restore',
      ])
        expect(entries).toContainEqual({ type: 'symlink', path: `opt/tscni/iptables/${mode}/${p}`, target: multi });
    expect(paths).toContain('dir opt/tscni/iptables/nft');
    expect(paths).toEqual([...paths].sort((a, b) => (a.split(' ')[1]! < b.split(' ')[1]! ? -1 : 1)));
  });

  it('the same inputs give the same bytes; the config runs the installer loop on the host dirs', () => {
    const i = input();
    const a = buildImage(i, join(dir, 'a.tar'));
    const b = buildImage(i, join(dir, 'b.tar'));
    expect(readFileSync(join(dir, 'a.tar')).equals(readFileSync(join(dir, 'b.tar')))).toBe(true);
    expect(a.manifestDigest).toBe(b.manifestDigest);
    const files = execFileSync('tar', ['-tf', join(dir, 'a.tar')], { encoding: 'utf8' })
      .trim()
      .split('\n');
    expect(files.filter((f) => !f.startsWith('blobs/sha256/'))).toEqual([
      'blobs/',
      'index.json',
      'manifest.json',
      'oci-layout',
    ]);
    const read = (f: string): unknown =>
      JSON.parse(execFileSync('tar', ['-xOf', join(dir, 'a.tar'), f], { encoding: 'utf8' }));
    const index = read('index.json') as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
    expect(index.manifests[0]?.digest).toBe(a.manifestDigest);
    expect(index.manifests[0]?.annotations['io.containerd.image.name']).toBe('localhost/tscni:9.9.9');
    const manifest = read(`blobs/sha256/${a.manifestDigest.slice(7)}`) as { config: { digest: string } };
    const config = read(`blobs/sha256/${manifest.config.digest.slice(7)}`) as { config: Record<string, unknown> };
    expect(config.config['Entrypoint']).toEqual(['/opt/tscni/bin/tscni', 'install']);
    expect(config.config['Cmd']).toEqual([
      '--bin-dir',
      '/host/opt/cni/bin',
      '--conf-dir',
      '/host/etc/cni/net.d',
      '--loop',
    ]);
  });
});
