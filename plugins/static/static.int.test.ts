/**
 * static against the reference, in a sandbox: exec'd alone, the same stdin gives the same result
 * or the same message (a table of configs, CNI_ARGS and versions); as macvlan's IPAM — run in
 * macvlan's own process (our static is a link to the same executable), exec'd (a copy of the
 * executable), and the reference pair — the same results and the same addresses and routes in
 * the container, and each CHECK accepts what ADD made.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { globalAddrs } from '../../lib/testutil/addresses';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../../lib/testutil/sandbox';
import { pings } from '../../lib/testutil/traffic';
import { addUnderlay } from '../../lib/testutil/underlay';
import { waitFor } from '../../lib/testutil/wait';

let sb: Sandbox;
const dirs = { inproc: '', exec: '', ref: '' };

beforeAll(async () => {
  sb = await Sandbox.create('st');
  await addUnderlay(sb, { master: 'phys0', outside: 'out', subnet: '192.168.61' });
  for (const k of Object.keys(dirs) as Array<keyof typeof dirs>) {
    dirs[k] = join(sb.dir, `bin-${k}`);
    mkdirSync(dirs[k]);
  }
  for (const p of ['macvlan', 'static']) {
    symlinkSync(join(BIN_DIR, p), join(dirs.inproc, p));
    symlinkSync(join(REFERENCE_DIR, p), join(dirs.ref, p));
  }
  symlinkSync(join(BIN_DIR, 'macvlan'), join(dirs.exec, 'macvlan'));
  // Another file with the same code: not this executable, so macvlan must exec it.
  copyFileSync(join(BIN_DIR, 'tscni'), join(dirs.exec, 'static'));
});
afterAll(async () => sb?.destroy());

type Json = Record<string, unknown>;
/** v1.1.1 prints an empty `"dns": {}` (newer releases omit it, as we do). */
const withoutEmptyDns = (j: unknown): unknown => {
  const o = { ...(j as Json) };
  if (JSON.stringify(o['dns']) === '{}') delete o['dns'];
  return o;
};

describe('static exec’d alone: the reference’s results and messages', () => {
  const base = (version: string, ipam: Json, extra: Json = {}): Json => ({
    cniVersion: version,
    name: 'stnet',
    type: 'static',
    ipam: { type: 'static', ...ipam },
    ...extra,
  });
  const DUAL = {
    addresses: [
      { address: '10.10.0.5/24', gateway: '10.10.0.254' },
      { address: '3ffe:ffff:0:01ff::1/64', gateway: '3ffe:ffff:0::1' },
    ],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.10.5.1' }, { dst: '3ffe:ffff:0:01ff::1/64' }],
    dns: { nameservers: ['8.8.8.8'], domain: 'example.com', search: ['example.com'], options: ['ndots:2'] },
  };
  const CASES: Array<[string, Json, string]> = [];
  for (const v of ['0.1.0', '0.2.0', '0.3.1', '0.4.0', '1.0.0']) {
    CASES.push([`${v} dual-stack with routes and DNS`, base(v, DUAL), '']);
    CASES.push([`${v} CNI_ARGS IP and GATEWAY`, base(v, {}), 'IgnoreUnknown=1;IP=10.1.1.7/24;GATEWAY=10.1.1.1']);
  }
  CASES.push(
    ['two IPv4 at 0.2.0', base('0.2.0', { addresses: [{ address: '10.0.0.1/8' }, { address: '10.0.0.2/8' }] }), ''],
    ['two IPv4 at 0.3.0', base('0.3.0', { addresses: [{ address: '10.0.0.1/8' }, { address: '10.0.0.2/8' }] }), ''],
    ['CNI_ARGS after the config', base('1.0.0', DUAL), 'IP=10.1.1.7/24, 10.2.2.2/16,fd00::7/64;GATEWAY=10.2.0.1'],
    ['args.cni.ips', base('1.0.0', DUAL, { args: { cni: { ips: ['10.4.4.4/24', 'fd00::4/64'] } } }), 'IP=10.9.9.9/8'],
    ['runtimeConfig.ips', base('1.0.0', DUAL, { runtimeConfig: { ips: ['10.3.3.3/24'] } }), ''],
    ['no addresses', base('1.0.0', {}), ''],
    ['no ipam', { cniVersion: '1.0.0', name: 'stnet', type: 'static' }, ''],
    ['address without prefix', base('1.0.0', { addresses: [{ address: '10.1.1.5' }] }), ''],
    ['bad gateway', base('1.0.0', { addresses: [{ address: '10.1.1.5/24', gateway: 'zz' }] }), ''],
    ['bad CNI_ARGS IP', base('1.0.0', {}), 'IP=10.2.2.2'],
    ['bad CNI_ARGS GATEWAY', base('1.0.0', {}), 'IP=10.2.2.2/24;GATEWAY=1.2.3'],
    ['unknown CNI_ARGS', base('1.0.0', {}), 'FOO=1'],
    ['bad runtimeConfig.ips', base('1.0.0', {}, { runtimeConfig: { ips: ['10.3.3.3'] } }), ''],
  );
  const call = (exe: string, command: string, config: Json, args: string): Promise<RunResult> =>
    sb.runPlugin(exe, { command, containerId: 'c1', netns: '/run/netns/none', ifName: 'eth0', args }, config);

  it.each(CASES)('%s', async (_name, config, args) => {
    const ours = await call(join(BIN_DIR, 'static'), 'ADD', config, args);
    const ref = await call(join(REFERENCE_DIR, 'static'), 'ADD', config, args);
    expect(ours.code).toBe(ref.code);
    if (ref.code === 0) expect(withoutEmptyDns(ours.json)).toEqual(withoutEmptyDns(ref.json));
    else expect((ours.json as Json)['msg']).toBe((ref.json as Json)['msg']);
    // DEL has nothing to do, for either.
    expect((await call(join(BIN_DIR, 'static'), 'DEL', config, args)).code).toBe(0);
  });
});

describe('static as macvlan’s IPAM: in-process, exec’d, and the reference pair', () => {
  const conf = (version = '1.0.0'): Json => ({
    cniVersion: version,
    name: 'mvstatic',
    type: 'macvlan',
    master: 'phys0',
    ipam: {
      type: 'static',
      addresses: [
        { address: '192.168.61.20/24', gateway: '192.168.61.1' },
        { address: 'fd00:61::20/64', gateway: 'fd00:61::1' },
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.61.0.0/16', gw: '192.168.61.100' }],
      dns: { nameservers: ['192.168.61.53'] },
    },
  });
  const run = (which: keyof typeof dirs, command: string, ctr: string, config: Json): Promise<RunResult> =>
    sb.runPlugin(
      join(dirs[which], 'macvlan'),
      {
        command,
        containerId: `id-${ctr}`,
        netns: `/run/netns/${sb.nsName(ctr)}`,
        ifName: 'net1',
        path: dirs[which],
        env: { TSCNI_DEBUG: '1' },
      },
      config,
    );
  const state = async (ctr: string): Promise<unknown> => ({
    addrs: await globalAddrs(sb, ctr, 'net1'),
    routes: (await sb.exec(ctr, ['ip', '-j', 'route', 'show'])).json,
    routes6: ((await sb.exec(ctr, ['ip', '-j', '-6', 'route', 'show'])).json as Json[]).filter(
      (r) => !String(r['dst']).startsWith('fe80'),
    ),
  });
  const shape = (j: unknown, ctr: string): unknown =>
    JSON.parse(
      JSON.stringify(withoutEmptyDns(j))
        .replace(/"mac":"[^"]*"/g, '"mac":"M"')
        .replace(new RegExp(sb.nsName(ctr), 'g'), 'NS'),
    );

  it('gives one result and one container state whichever way static runs', async () => {
    const results: Record<string, unknown> = {};
    const states: Record<string, unknown> = {};
    // One after the other: the three containers hold the same addresses.
    for (const which of ['inproc', 'exec', 'ref'] as const) {
      const ctr = `m-${which}`;
      await sb.addContainer(ctr);
      const r = await run(which, 'ADD', ctr, conf());
      expect(r.stdout).not.toContain('"code"');
      results[which] = shape(r.json, ctr);
      states[which] = await state(ctr);
      const execLines = r.stderr.split('\n').filter((l) => / exec .*static/.test(l));
      if (which === 'inproc') expect(execLines).toEqual([]);
      if (which === 'exec') expect(execLines).toHaveLength(1);
      await waitFor(`a ping from ${ctr} to the underlay`, () => pings(sb, ctr, '192.168.61.100', 1));
      expect((await run(which, 'CHECK', ctr, { ...conf(), prevResult: r.json })).code).toBe(0);
      expect((await run(which, 'DEL', ctr, conf())).code).toBe(0);
      expect(await globalAddrs(sb, ctr, 'net1')).toEqual([]);
    }
    expect(results['inproc']).toEqual(results['ref']);
    expect(results['exec']).toEqual(results['ref']);
    expect(states['inproc']).toEqual(states['ref']);
    expect(states['exec']).toEqual(states['ref']);
    expect(results['inproc']).toMatchObject({
      ips: [
        { interface: 0, address: '192.168.61.20/24', gateway: '192.168.61.1' },
        { interface: 0, address: 'fd00:61::20/64', gateway: 'fd00:61::1' },
      ],
    });
  });

  it('an in-process static CHECK fails like an exec’d one when the address drifted', async () => {
    await sb.addContainer('m-drift');
    const r = await run('inproc', 'ADD', 'm-drift', conf());
    expect(r.stdout).not.toContain('"code"');
    const wrongGw = JSON.parse(JSON.stringify(r.json)) as { ips: Array<{ gateway: string }> };
    wrongGw.ips[0]!.gateway = '192.168.61.2';
    for (const which of ['inproc', 'exec'] as const) {
      const chk = await run(which, 'CHECK', 'm-drift', { ...conf(), prevResult: wrongGw });
      expect(chk.json).toMatchObject({ msg: 'static: Failed to match addr 192.168.61.20 on interface net1' });
    }
    expect((await run('inproc', 'DEL', 'm-drift', conf())).code).toBe(0);
  });
});
