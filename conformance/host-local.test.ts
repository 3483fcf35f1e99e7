/** IPAM semantics at every cniVersion: result shape, DEL idempotence, repeated ADD, CHECK, GC, STATUS. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_VERSIONS, errorOf, hasPlugin, invoke } from './harness';

const suite = hasPlugin('host-local') ? describe : describe.skip;
let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tscni-conf-hl-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const family = (v: string): '0.2' | '0.4' | '1.x' => (v < '0.3.0' ? '0.2' : v < '1.0.0' ? '0.4' : '1.x');
let n = 0;

function netconf(
  version: string,
  subnet = '10.77.0.0/24',
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    cniVersion: version,
    name: `hl${n}`,
    type: 'host-local',
    ipam: { type: 'host-local', subnet, dataDir: dir },
    ...extra,
  };
}
const env = (cmd: string, cid: string, ifname = 'eth0'): Record<string, string> => ({
  CNI_COMMAND: cmd,
  CNI_CONTAINERID: cid,
  CNI_NETNS: '/run/netns/none',
  CNI_IFNAME: ifname,
  CNI_PATH: '/nonexistent',
});
const leases = (net: string): string[] =>
  readdirSync(join(dir, net)).filter((f) => (/^[0-9a-f.:]+$/.test(f) && f.includes('.')) || f.includes(':'));

suite.each([...ALL_VERSIONS])('host-local at %s', (version) => {
  let conf: Record<string, unknown>;
  let net = '';
  beforeAll(() => {
    n += 1;
    conf = netconf(version);
    net = conf['name'] as string;
  });

  it('ADD returns an abbreviated IPAM result in the config version', async () => {
    const r = await invoke('host-local', env('ADD', 'c1'), conf);
    expect(r.code).toBe(0);
    const res = r.json as Record<string, unknown>;
    expect(res['cniVersion']).toBe(version);
    expect(res['interfaces']).toBeUndefined();
    if (family(version) === '0.2') {
      expect(res['ip4']).toMatchObject({ ip: '10.77.0.2/24', gateway: '10.77.0.1' });
    } else {
      const ips = res['ips'] as Array<Record<string, unknown>>;
      expect(ips[0]).toMatchObject({ address: '10.77.0.2/24', gateway: '10.77.0.1' });
      expect(ips[0]?.['interface']).toBeUndefined();
      if (family(version) === '0.4') expect(ips[0]?.['version']).toBe('4');
      else expect(ips[0]?.['version']).toBeUndefined();
    }
  });

  it('a repeated ADD for the same container and ifname is rejected', async () => {
    const r = await invoke('host-local', env('ADD', 'c1'), conf);
    expect(r.code).not.toBe(0);
    expect(errorOf(r).msg).toMatch(/duplicate allocation/);
  });

  it('a second container gets the next address', async () => {
    const r = await invoke('host-local', env('ADD', 'c2'), conf);
    expect(JSON.stringify(r.json)).toContain('10.77.0.3/24');
  });

  if (family(version) !== '0.2' && version !== '0.3.0' && version !== '0.3.1') {
    it('CHECK succeeds for a held lease', async () => {
      expect((await invoke('host-local', env('CHECK', 'c1'), conf)).code).toBe(0);
    });
    it('CHECK fails after the lease was removed behind its back', async () => {
      unlinkSync(join(dir, net, '10.77.0.3'));
      const r = await invoke('host-local', env('CHECK', 'c2'), conf);
      expect(r.code).not.toBe(0);
    });
  }

  it('DEL releases the lease and is idempotent', async () => {
    expect((await invoke('host-local', env('DEL', 'c1'), conf)).code).toBe(0);
    expect(existsSync(join(dir, net, '10.77.0.2'))).toBe(false);
    expect((await invoke('host-local', env('DEL', 'c1'), conf)).code).toBe(0);
    expect((await invoke('host-local', env('DEL', 'never-added'), conf)).code).toBe(0);
  });
});

suite('host-local GC and STATUS (1.1.0)', () => {
  it('[spec] GC releases leases of attachments not in cni.dev/valid-attachments', async () => {
    n += 1;
    const conf = netconf('1.1.0', '10.78.0.0/24');
    const net = conf['name'] as string;
    for (const cid of ['keep', 'drop']) expect((await invoke('host-local', env('ADD', cid), conf)).code).toBe(0);
    const gc = await invoke(
      'host-local',
      { CNI_COMMAND: 'GC', CNI_PATH: '/x' },
      { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }] },
    );
    expect(gc.code).toBe(0);
    expect(leases(net)).toEqual(['10.78.0.2']);
  });
  it('GC without an attachment list removes nothing', async () => {
    n += 1;
    const conf = netconf('1.1.0', '10.79.0.0/24');
    await invoke('host-local', env('ADD', 'a'), conf);
    expect((await invoke('host-local', { CNI_COMMAND: 'GC', CNI_PATH: '/x' }, conf)).code).toBe(0);
    expect(leases(conf['name'] as string)).toHaveLength(1);
  });
  it('STATUS succeeds while addresses remain', async () => {
    n += 1;
    expect(
      (await invoke('host-local', { CNI_COMMAND: 'STATUS', CNI_PATH: '/x' }, netconf('1.1.0', '10.80.0.0/24'))).code,
    ).toBe(0);
  });
  it('[spec] STATUS reports code 50 when the range is exhausted', async () => {
    n += 1;
    const conf = netconf('1.1.0', '10.81.0.0/30');
    expect((await invoke('host-local', env('ADD', 'only'), conf)).code).toBe(0);
    const r = await invoke('host-local', { CNI_COMMAND: 'STATUS', CNI_PATH: '/x' }, conf);
    expect(errorOf(r).code).toBe(50);
  });
  it('exhaustion on ADD is reported with the reference message', async () => {
    n += 1;
    const conf = netconf('1.0.0', '10.82.0.0/30');
    await invoke('host-local', env('ADD', 'one'), conf);
    const r = await invoke('host-local', env('ADD', 'two'), conf);
    expect(errorOf(r).msg).toMatch(/no IP addresses available in range set/);
  });
});
