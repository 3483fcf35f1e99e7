/**
 * dummy against the real kernel, in a sandbox (Debian's reference v1.1.1 has no dummy plugin, so
 * there is no differential). Where the kernel has no dummy links (this project's test kernel):
 * the clear CNI error, no link and no lease left, and the verbs that make no link (DEL, STATUS,
 * GC) answering. Where it has them: the link with its dual-stack addresses, up, carrying traffic
 * to its own address, CHECK, DEL. The exact netlink requests are pinned by plan.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { kernelHasLinkKind, skipNote } from '../../lib/testutil/kernel';
import { BIN_DIR, Sandbox, type RunResult } from '../../lib/testutil/sandbox';
import { tcpEcho } from '../../lib/testutil/traffic';

const DUMMY = join(BIN_DIR, 'dummy');
const hasDummy = kernelHasLinkKind('dummy');
const withDummy = hasDummy ? it : it.skip;
const withoutDummy = hasDummy ? it.skip : it;

let sb: Sandbox;
let cniPath = '';

const conf = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'dnet',
  type: 'dummy',
  ipam: {
    type: 'host-local',
    ranges: [[{ subnet: '10.66.0.0/24' }], [{ subnet: 'fd66::/64' }]],
    dataDir: join(sb.dir, 'ipam'),
  },
  ...extra,
});
const plugin = (command: string, ctr: string, config: unknown, netns?: string): Promise<RunResult> =>
  sb.runPlugin(
    DUMMY,
    {
      command,
      containerId: `id-${ctr}`,
      netns: netns ?? `/run/netns/${sb.nsName(ctr)}`,
      ifName: 'eth0',
      path: cniPath,
    },
    config,
  );
const errorOf = (r: RunResult): { code: number; msg: string; details?: string } =>
  r.json as { code: number; msg: string; details?: string };
const leases = (): string[] => {
  const d = join(sb.dir, 'ipam', 'dnet');
  return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$|:/.test(f)) : [];
};
const hasEth0 = async (ctr: string): Promise<boolean> =>
  (await sb.exec(ctr, ['ip', 'link', 'show', 'eth0'])).code === 0;

beforeAll(async () => {
  sb = await Sandbox.create('dummy');
  cniPath = join(sb.dir, 'cni-bin');
  mkdirSync(cniPath);
  symlinkSync(join(BIN_DIR, 'host-local'), join(cniPath, 'host-local'));
});
afterAll(async () => sb?.destroy());

describe('dummy on a kernel without dummy links', () => {
  withoutDummy('ADD is a clear CNI error and leaves no link and no lease', async () => {
    await sb.addContainer('n1');
    const r = await plugin('ADD', 'n1', conf());
    expect(errorOf(r)).toMatchObject({
      code: 999,
      msg: 'failed to create dummy: this kernel has no dummy links (CONFIG_DUMMY)',
    });
    expect(errorOf(r).details).toMatch(/EOPNOTSUPP/);
    expect(await hasEth0('n1')).toBe(false);
    expect(leases()).toEqual([]);
  });
});

describe('dummy: what needs no new link', () => {
  it('no IPAM is the reference’s message (code 7); DEL twice and without a netns; STATUS; GC', async () => {
    await sb.addContainer('d1');
    expect(errorOf(await plugin('ADD', 'd1', { ...conf(), ipam: undefined }))).toMatchObject({
      code: 7,
      msg: 'dummy interface requires an IPAM configuration',
    });
    for (const netns of [undefined, undefined, '']) expect((await plugin('DEL', 'd1', conf(), netns)).code).toBe(0);
    const c11 = { ...conf(), cniVersion: '1.1.0' };
    expect((await sb.runPlugin(DUMMY, { command: 'STATUS', path: cniPath }, c11)).code).toBe(0);
    const gc = await sb.runPlugin(DUMMY, { command: 'GC', path: cniPath }, { ...c11, 'cni.dev/valid-attachments': [] });
    expect(gc.code).toBe(0);
  });
});

describe(`dummy links${skipNote('dummy')}`, () => {
  withDummy('ADD: a dummy link, up, with both addresses; traffic to its own address; CHECK; DEL', async () => {
    await sb.addContainer('a');
    const r = await plugin('ADD', 'a', conf());
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({
      interfaces: [{ name: 'eth0', sandbox: `/run/netns/${sb.nsName('a')}` }],
      ips: [
        { interface: 0, address: '10.66.0.2/24' },
        { interface: 0, address: 'fd66::2/64' },
      ],
    });
    const l = await sb.exec('a', ['ip', '-j', '-d', 'link', 'show', 'eth0']);
    expect(l.json).toMatchObject([{ linkinfo: { info_kind: 'dummy' } }]);
    expect(JSON.stringify(l.json)).toContain('"UP"');
    expect((await tcpEcho(sb, 'a', '10.66.0.2')).ok).toBe(true);
    expect((await plugin('CHECK', 'a', { ...conf(), prevResult: r.json })).code).toBe(0);
    await sb.exec('a', ['ip', 'link', 'set', 'eth0', 'down']);
    expect(errorOf(await plugin('CHECK', 'a', { ...conf(), prevResult: r.json })).msg).toBe('Interface eth0 is down');
    expect((await plugin('DEL', 'a', conf())).code).toBe(0);
    expect(await hasEth0('a')).toBe(false);
    expect(leases()).toEqual([]);
  });

  withDummy('a second ADD of one attachment fails and leaves the first link alone', async () => {
    await sb.addContainer('b');
    expect((await plugin('ADD', 'b', conf())).code).toBe(0);
    expect(errorOf(await plugin('ADD', 'b', conf())).msg).toBe(
      'failed to create dummy: interface "eth0" already exists in the container',
    );
    expect(await hasEth0('b')).toBe(true);
    expect((await plugin('DEL', 'b', conf())).code).toBe(0);
  });
});
