/** bin/tscni (cnitool's interface) on a conflist of our plugins, in a sandbox: add, check, status, gc, del and libcni's cache. */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, Sandbox } from '../testutil/sandbox';

let sb: Sandbox;
let env: Record<string, string> = {};
const netns = (): string => `/run/netns/${sb.nsName('c1')}`;
const cid = (): string => `cnitool-${createHash('sha512').update(netns()).digest('hex').slice(0, 20)}`;
const tscni = (...args: string[]): ReturnType<Sandbox['exec']> =>
  sb.exec('host', ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), join(BIN_DIR, 'tscni'), ...args]);

beforeAll(async () => {
  sb = await Sandbox.create('cli');
  await sb.addContainer('c1');
  mkdirSync(join(sb.dir, 'net.d'));
  writeFileSync(
    join(sb.dir, 'net.d', '10-clinet.conflist'),
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'clinet',
      plugins: [
        {
          type: 'bridge',
          bridge: 'clibr0',
          isGateway: true,
          ipMasq: true,
          ipam: { type: 'host-local', subnet: '10.70.0.0/24', dataDir: join(sb.dir, 'leases') },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }),
  );
  env = {
    NETCONFPATH: join(sb.dir, 'net.d'),
    CNI_PATH: BIN_DIR,
    CNI_CACHE_DIR: join(sb.dir, 'cache'),
    CAP_ARGS: '{"portMappings":[{"hostPort":8088,"containerPort":80,"protocol":"tcp"}]}',
  };
});
afterAll(async () => sb.destroy());

it('add prints the result and writes the libcni cache file', async () => {
  const r = await tscni('add', 'clinet', netns());
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(JSON.stringify(r.json)).toContain('10.70.0.2/24');
  const file = join(sb.dir, 'cache', 'results', `clinet-${cid()}-eth0`);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const cache = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  expect(cache).toMatchObject({
    kind: 'cniCacheV1',
    containerId: cid(),
    ifName: 'eth0',
    networkName: 'clinet',
    netns: netns(),
  });
  expect(cache['capabilityArgs']).toEqual({ portMappings: [{ hostPort: 8088, containerPort: 80, protocol: 'tcp' }] });
  expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).toContain('--dports 8088');
});

it('check and status succeed', async () => {
  expect((await tscni('check', 'clinet', netns())).code).toBe(0);
  expect((await tscni('status', 'clinet')).code).toBe(0);
});

it('gc deletes every cached attachment (cnitool semantics) and leaves nothing', async () => {
  const r = await tscni('gc', 'clinet');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(readdirSync(join(sb.dir, 'cache', 'results'))).toEqual([]);
  expect(readdirSync(join(sb.dir, 'leases', 'clinet')).filter((f) => f.startsWith('10.'))).toEqual([]);
  expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).not.toContain(cid());
});

it('add again, then del cleans up; bad input is an error on stderr with exit 1', async () => {
  expect((await tscni('add', 'clinet', netns())).code).toBe(0);
  expect((await tscni('del', 'clinet', netns())).code).toBe(0);
  expect((await sb.exec('c1', ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
  const bad = await tscni('add', 'nosuchnet', netns());
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/no net configuration with name "nosuchnet"/);
});
