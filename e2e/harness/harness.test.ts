/** Unit tests of the e2e harness parts that need no root: protobuf coding, trace wrappers and reading. */
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PbFields, PbWriter } from './grpc';
import { installPlugins } from './plugins';
import { formatTrace, readTrace, resultIp } from './trace';
import { requireProgram } from '../../lib/testutil/programs';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'tscni-e2e-unit-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('protobuf', () => {
  it('writes what it reads back: strings, varints, negative int32, nested messages, maps, repeated', () => {
    const buf = new PbWriter()
      .bytes(1, 'pod')
      .uint(2, 300)
      .uint(3, -5)
      .message(4, new PbWriter().bytes(1, 'inner').uint(2, true))
      .map(5, { a: '1', b: '2' })
      .strings(6, ['x', 'y'])
      .finish();
    const f = new PbFields(buf);
    expect(f.str(1)).toBe('pod');
    expect(f.num(2)).toBe(300);
    expect(f.num(3)).toBe(-5);
    expect(f.msg(4)?.str(1)).toBe('inner');
    expect(f.msg(4)?.num(2)).toBe(1);
    expect(f.map(5)).toEqual({ a: '1', b: '2' });
    expect(f.strs(6)).toEqual(['x', 'y']);
    expect(f.str(7)).toBe('');
  });

  it('encodes like protoc: field 1 string "hi" is 0a 02 68 69, 150 as varint is 96 01', () => {
    expect(new PbWriter().bytes(1, 'hi').finish().toString('hex')).toBe('0a026869');
    expect(new PbWriter().uint(1, 150).finish().toString('hex')).toBe('089601');
    // proto3 leaves defaults out.
    expect(new PbWriter().bytes(1, '').uint(2, 0).uint(3, false).finish().length).toBe(0);
  });
});

describe('trace wrappers', () => {
  it('record a call and behave like the plugin (stdout, stderr, exit code, argv[0] name)', () => {
    const root = tmp();
    const bin = join(root, 'bin');
    mkdirSync(bin);
    // A fake multi-call binary with plugin names as symlinks, like the coming native bin/.
    writeFileSync(
      join(bin, 'tscni'),
      '#!/bin/sh\ncat >/dev/null\necho "{\\"cniVersion\\":\\"1.0.0\\",\\"ips\\":[{\\"address\\":\\"10.1.2.3/24\\"}],\\"argv0\\":\\"$(basename $0)\\"}"\necho oops >&2\nexit 3\n',
    );
    chmodSync(join(bin, 'tscni'), 0o755);
    for (const p of ['bridge', 'host-local']) symlinkSync('tscni', join(bin, p));
    const real = join(root, 'real');
    const wrap = join(root, 'wrap');
    const trace = join(root, 'trace');
    // The borrowed plugins come from the reference in /usr/lib/cni.
    requireProgram('/usr/lib/cni/bridge');
    installPlugins(bin, real, wrap, trace);
    expect(readlinkSync(join(real, 'bridge'))).toBe('tscni');
    expect(readlinkSync(join(wrap, 'host-local'))).toBe(join(real, 'host-local'));

    const r = spawnSync(join(wrap, 'bridge'), [], {
      input: '{"cniVersion":"1.0.0","name":"n","type":"bridge","runtimeConfig":{"portMappings":[]}}',
      env: { PATH: '/usr/bin:/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' },
    });
    expect(r.status).toBe(3);
    expect(r.stdout.toString()).toContain('"argv0":"bridge"');
    expect(r.stderr.toString()).toBe('oops\n');

    const calls = readTrace(trace);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      plugin: 'bridge',
      command: 'ADD',
      cniVersion: '1.0.0',
      containerId: 'c1',
      netns: undefined,
      rc: 3,
      runtimeConfigKeys: ['portMappings'],
    });
    expect(formatTrace(calls)).toMatch(/bridge\s+ADD\s+v1\.0\.0 rc=3 id=c1 if=eth0 netns=\(unset\)/);
    expect(resultIp(calls)).toBe('');
  });
});
