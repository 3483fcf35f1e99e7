/**
 * ptp against the real kernel, in a sandbox with an "outside" namespace behind the sandbox host:
 * the reference's address and route layout, traffic between pods and outward (masqueraded),
 * CHECK, DEL without netns, rollback, GC/STATUS, the reference plugin in the same sandbox, and
 * kind's kindnetd conflist (ptp + host-local + portmap) run unchanged through bin/tscni.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Family } from '../../lib/addr/ip';
import { BIN_DIR, REFERENCE_DIR, REPO_ROOT, Sandbox, runOk, type RunResult } from '../../lib/testutil/sandbox';
import { globalAddrs } from '../../lib/testutil/addresses';
import { addUnderlay } from '../../lib/testutil/underlay';
import { fetchFrom, startServer, pings } from '../../lib/testutil/traffic';

const PTP = join(BIN_DIR, 'ptp');
const OUTSIDE = '192.168.61.100';
let sb: Sandbox;
let cniPath = '';

function conf(extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'ptpnet',
    type: 'ptp',
    ipMasq: true,
    mtu: 1400,
    ...extra,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: '10.250.1.0/24' }], [{ subnet: 'fd00:250:1::/64' }]],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
      dataDir: join(sb.dir, 'ipam'),
      ...ipam,
    },
  };
}

interface CallOpts {
  netns?: string;
  ifName?: string;
  exe?: string;
  path?: string;
  id?: string;
  env?: Record<string, string | undefined>;
}
function plugin(command: string, container: string, config: unknown, o: CallOpts = {}): Promise<RunResult> {
  return sb.runPlugin(
    o.exe ?? PTP,
    {
      command,
      containerId: o.id ?? `ctr-${container}`,
      netns: o.netns ?? `/run/netns/${sb.nsName(container)}`,
      ifName: o.ifName ?? 'eth0',
      path: o.path ?? cniPath,
      env: o.env,
    },
    config,
  );
}

type IpRoute = { dst: string; gateway?: string; dev?: string; scope?: string; prefsrc?: string; protocol?: string };
const routesIn = async (where: string, family: Family = 4): Promise<IpRoute[]> =>
  (await sb.exec(where, ['ip', '-j', `-${family}`, 'route', 'show'])).json as IpRoute[];
const addrsIn = (where: string, dev: string): Promise<string[]> => globalAddrs(sb, where, dev);
const ping = (from: string, to: string): Promise<boolean> => pings(sb, from, to, 2);
const natRules = async (): Promise<string> =>
  (await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout +
  (await sb.exec('host', ['ip6tables-save', '-t', 'nat'])).stdout;
const veths = async (): Promise<string[]> =>
  (await sb.exec('host', ['ip', '-br', 'link'])).stdout
    .split('\n')
    .filter((l) => l.startsWith('veth'))
    .map((l) => l.split(/[@ ]/)[0] ?? '');
const leases = (net = 'ptpnet', dir = 'ipam'): string[] => {
  try {
    return readdirSync(join(sb.dir, dir, net)).filter((f) => /^\d+\.\d+\.\d+\.\d+$|:/.test(f));
  } catch {
    return [];
  }
};
const errorOf = (r: RunResult): { code: number; msg: string } => r.json as { code: number; msg: string };

beforeAll(async () => {
  sb = await Sandbox.create('ptp');
  // The outside has no route to any pod subnet: only masqueraded traffic can come back.
  await addUnderlay(sb, { master: 'phys0', outside: 'out', subnet: '192.168.61' });
  cniPath = join(sb.dir, 'cni-bin');
  mkdirSync(cniPath);
  symlinkSync(join(BIN_DIR, 'host-local'), join(cniPath, 'host-local'));
  writeFileSync(join(cniPath, 'failing-ipam'), '#!/bin/sh\necho \'{"code":11,"msg":"ipam says no"}\'\nexit 1\n');
  chmodSync(join(cniPath, 'failing-ipam'), 0o755);
});
afterAll(async () => sb?.destroy());

describe('ptp ADD: the reference layout, traffic, masquerade', () => {
  let resA: { interfaces: Array<{ name: string; mac: string; sandbox?: string }>; ips: unknown[] } = {
    interfaces: [],
    ips: [],
  };

  it('result: the host veth and the container end; every IP on interface 1', async () => {
    await sb.addContainer('a');
    const r = await plugin('ADD', 'a', conf());
    expect(r.stdout + r.stderr).not.toMatch(/"code"/);
    resA = r.json as typeof resA;
    expect(resA.interfaces).toEqual([
      { name: expect.stringMatching(/^veth[0-9a-f]{8}$/), mac: expect.any(String) },
      { name: 'eth0', mac: expect.any(String), sandbox: `/run/netns/${sb.nsName('a')}` },
    ]);
    expect(resA.ips).toEqual([
      { interface: 1, address: '10.250.1.2/24', gateway: '10.250.1.1' },
      { interface: 1, address: 'fd00:250:1::2/64', gateway: 'fd00:250:1::1' },
    ]);
    expect(r.json).toMatchObject({ routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }] });
  });

  it('container: its address with the IPAM prefix, everything routed through the gateway', async () => {
    expect(await addrsIn('a', 'eth0')).toEqual(['10.250.1.2/24', 'fd00:250:1::2/64']);
    const v4 = await routesIn('a');
    expect(v4).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: 'default', gateway: '10.250.1.1', dev: 'eth0' }),
        expect.objectContaining({ dst: '10.250.1.0/24', gateway: '10.250.1.1', prefsrc: '10.250.1.2' }),
        expect.objectContaining({ dst: '10.250.1.1', dev: 'eth0', scope: 'link', prefsrc: '10.250.1.2' }),
      ]),
    );
    expect(v4.some((r) => r.protocol === 'kernel' && r.dst === '10.250.1.0/24')).toBe(false);
    const v6 = await routesIn('a', 6);
    expect(v6).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: 'default', gateway: 'fd00:250:1::1' }),
        expect.objectContaining({ dst: 'fd00:250:1::/64', gateway: 'fd00:250:1::1', prefsrc: 'fd00:250:1::2' }),
        expect.objectContaining({ dst: 'fd00:250:1::1', prefsrc: 'fd00:250:1::2' }),
      ]),
    );
    expect(v6.some((r) => r.protocol === 'kernel' && r.dst === 'fd00:250:1::/64')).toBe(false);
    const mtu = await sb.exec('a', ['cat', '/sys/class/net/eth0/mtu']);
    expect(mtu.stdout.trim()).toBe('1400');
  });

  it('host: the gateway as /32 and /128 on the veth, a host route per container address, forwarding on', async () => {
    const veth = resA.interfaces[0]?.name ?? '';
    expect(await addrsIn('host', veth)).toEqual(['10.250.1.1/32', 'fd00:250:1::1/128']);
    expect(await routesIn('host')).toEqual(
      expect.arrayContaining([expect.objectContaining({ dst: '10.250.1.2', dev: veth, scope: 'host' })]),
    );
    expect(await routesIn('host', 6)).toEqual(
      expect.arrayContaining([expect.objectContaining({ dst: 'fd00:250:1::2', dev: veth })]),
    );
    const sysctls = await sb.exec('host', [
      'cat',
      '/proc/sys/net/ipv4/ip_forward',
      '/proc/sys/net/ipv6/conf/all/forwarding',
      `/proc/sys/net/ipv6/conf/${veth}/accept_ra`,
      `/sys/class/net/${veth}/mtu`,
    ]);
    expect(sysctls.stdout.split('\n').slice(0, 4)).toEqual(['1', '1', '0', '1400']);
  });

  it('pods reach each other (IPv4 and IPv6) and the outside, masqueraded by the reference chain', async () => {
    await sb.addContainer('b');
    expect((await plugin('ADD', 'b', conf())).code).toBe(0);
    expect(await ping('a', '10.250.1.3')).toBe(true);
    expect(await ping('b', 'fd00:250:1::2')).toBe(true);
    expect(await ping('a', '10.250.1.1')).toBe(true);
    expect(await ping('a', OUTSIDE)).toBe(true);
    const rules = await natRules();
    expect(rules).toMatch(
      /-A POSTROUTING -s 10\.250\.1\.2\/32 -m comment --comment "name: \\"ptpnet\\" id: \\"ctr-a\\"" -j CNI-[0-9a-f]{24}/,
    );
    expect(rules).toMatch(/-A CNI-[0-9a-f]{24} -d fd00:250:1::\/64 .*-j ACCEPT/);
  });

  it('CHECK passes, and fails on drift in the container or on the host end', async () => {
    const prev = { ...conf(), prevResult: resA };
    expect((await plugin('CHECK', 'a', prev)).code).toBe(0);
    expect(errorOf(await plugin('CHECK', 'a', conf())).msg).toBe('ptp: Required prevResult missing');
    await sb.exec('host', ['ip', 'route', 'del', '10.250.1.2/32']);
    expect(errorOf(await plugin('CHECK', 'a', prev)).msg).toBe(
      `ptp: host route to 10.250.1.2 via ${resA.interfaces[0]?.name ?? ''} not found`,
    );
    await sb.exec('a', ['ip', 'route', 'del', '10.250.1.0/24']);
    expect(errorOf(await plugin('CHECK', 'a', prev)).msg).toBe('Failed to find Gateway 10.250.1.1 for interface eth0');
    await sb.exec('a', ['ip', 'route', 'del', 'default']);
    await sb.exec('a', ['ip', 'route', 'add', '10.250.1.0/24', 'via', '10.250.1.1', 'src', '10.250.1.2']);
    expect(errorOf(await plugin('CHECK', 'a', prev)).msg).toBe('Expected Route 0.0.0.0/0 not found in routing table');
  });

  it('DEL removes veth, rules and lease; again, and with the netns gone, it still succeeds', async () => {
    const before = await veths();
    expect((await plugin('DEL', 'a', conf())).code).toBe(0);
    expect(await veths()).toHaveLength(before.length - 1);
    expect(await natRules()).not.toContain('ctr-a');
    expect(leases()).not.toContain('10.250.1.2');
    expect((await plugin('DEL', 'a', conf())).code).toBe(0);
    await sb.removeContainer('b');
    expect((await plugin('DEL', 'b', conf())).code).toBe(0);
    expect(await natRules()).not.toContain('ctr-b');
    expect(leases()).toEqual([]);
  });
});

describe('bad input and rollback', () => {
  it('no IPAM is a config error', async () => {
    await sb.addContainer('e1');
    const c = { cniVersion: '1.0.0', name: 'ptpnet', type: 'ptp' };
    expect(errorOf(await plugin('ADD', 'e1', c))).toMatchObject({ code: 7 });
  });

  it('an IPAM failure is reported unchanged; nothing is left', async () => {
    const before = await veths();
    expect((await plugin('ADD', 'e1', conf({}, { type: 'failing-ipam' }))).json).toMatchObject({
      code: 11,
      msg: 'ipam says no',
    });
    expect(await veths()).toEqual(before);
  });

  it('a route the kernel refuses undoes the veth, the lease and the masquerade rules', async () => {
    const before = await veths();
    const r = await plugin('ADD', 'e1', conf({}, { routes: [{ dst: '10.9.0.0/16', gw: '203.0.113.1' }] }));
    expect(r.code).not.toBe(0);
    expect(await veths()).toEqual(before);
    expect(leases()).toEqual([]);
    expect(await natRules()).not.toContain('ctr-e1');
    expect((await sb.exec('e1', ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
  });

  it('a failing masquerade program undoes the veth and the lease', async () => {
    const tools = join(sb.dir, 'failing-restore');
    mkdirSync(tools);
    for (const t of ['ip', 'iptables', 'ip6tables', 'iptables-save', 'ip6tables-save', 'nft']) {
      const real = (await sb.exec('host', ['sh', '-c', `command -v ${t}`])).stdout.trim();
      if (real) symlinkSync(real, join(tools, t));
    }
    for (const t of ['iptables-restore', 'ip6tables-restore']) {
      writeFileSync(join(tools, t), '#!/bin/sh\necho "restore: injected failure" >&2\nexit 4\n');
      chmodSync(join(tools, t), 0o755);
    }
    const before = await veths();
    const r = await plugin('ADD', 'e1', conf({ ipMasqBackend: 'iptables' }), { env: { PATH: tools } });
    expect(r.stdout).toContain('injected failure');
    expect(await veths()).toEqual(before);
    expect(leases()).toEqual([]);
  });
});

describe('GC and STATUS (cniVersion 1.1.0)', () => {
  it('STATUS succeeds; GC releases leases and rules of attachments not valid any more', async () => {
    const c = {
      ...conf({ name: 'ptpgc', ipMasqBackend: 'iptables' }, { ranges: [[{ subnet: '10.250.9.0/24' }]] }),
      cniVersion: '1.1.0',
    };
    expect((await sb.runPlugin(PTP, { command: 'STATUS', path: cniPath }, c)).code).toBe(0);
    await sb.addContainer('g1');
    expect((await plugin('ADD', 'g1', c)).code).toBe(0);
    expect(await natRules()).toContain('ctr-g1');
    const gc = await sb.runPlugin(PTP, { command: 'GC', path: cniPath }, { ...c, 'cni.dev/valid-attachments': [] });
    expect(gc.code).toBe(0);
    expect(leases('ptpgc')).toEqual([]);
    expect(await natRules()).not.toContain('ctr-g1');
    expect((await plugin('DEL', 'g1', c)).code).toBe(0);
  });
});

describe('differential: the reference ptp in the same sandbox', () => {
  it('same config → same result shape, routes, addresses, rules and lease files', async () => {
    const refPath = join(sb.dir, 'ref-bin');
    mkdirSync(refPath);
    symlinkSync(join(REFERENCE_DIR, 'host-local'), join(refPath, 'host-local'));
    await sb.addContainer('r1');
    await sb.addContainer('r2');
    const mk = (who: string): Record<string, unknown> =>
      conf(
        { name: 'diffnet' },
        {
          ranges: [[{ subnet: '10.250.5.0/24' }], [{ subnet: 'fd00:250:5::/64' }]],
          dataDir: join(sb.dir, `ipam-${who}`),
        },
      );
    const ref = { exe: join(REFERENCE_DIR, 'ptp'), path: refPath, id: 'same-id' };
    const store = (who: string): string[] =>
      readdirSync(join(sb.dir, `ipam-${who}`, 'diffnet'))
        .filter((f) => !f.startsWith('.'))
        .sort();

    const snapshot = async (ctr: string, res: RunResult): Promise<unknown> => {
      const veth = (res.json as { interfaces: Array<{ name: string }> }).interfaces[0]?.name ?? '';
      const clean = (rs: IpRoute[]): unknown[] =>
        rs
          .map((r) => ({ ...r, dev: r.dev === veth ? 'VETH' : r.dev }))
          .filter((r) => r.dev === 'VETH' || r.dev === 'eth0');
      return {
        ctrAddrs: await addrsIn(ctr, 'eth0'),
        ctrRoutes: [...(await routesIn(ctr)), ...(await routesIn(ctr, 6))],
        hostAddrs: await addrsIn('host', veth),
        hostRoutes: clean([...(await routesIn('host')), ...(await routesIn('host', 6))]),
        rules: (await natRules())
          .split('\n')
          .filter((l) => l.includes('same-id'))
          .sort(),
      };
    };
    const ours = await plugin('ADD', 'r1', mk('ours'), { id: 'same-id' });
    expect(ours.code).toBe(0);
    const ourState = await snapshot('r1', ours);
    const ourStore = store('ours');
    expect((await plugin('DEL', 'r1', mk('ours'), { id: 'same-id' })).code).toBe(0);
    const theirs = await plugin('ADD', 'r2', mk('ref'), ref);
    expect(theirs.code).toBe(0);
    const refState = await snapshot('r2', theirs);
    const shape = (j: unknown): unknown =>
      JSON.parse(
        JSON.stringify(j)
          .replace(/,"dns":\{\}/, '')
          .replace(/"mac":"[^"]*"/g, '"mac":"M"')
          .replace(/veth[0-9a-f]{8}/g, 'vethX')
          .replace(/tscni-t-[^"]*-r[12]/g, 'NS'),
      );
    expect(shape(ours.json)).toEqual(shape(theirs.json));
    expect(ourState).toEqual(refState);
    expect(ourStore).toEqual(store('ref'));
    expect(readFileSync(join(sb.dir, 'ipam-ref', 'diffnet', '10.250.5.2'), 'utf8')).toBe('same-id\r\neth0');

    // The reference leaks its masquerade rules when the netns is gone before DEL; ours finds them by name.
    await sb.removeContainer('r2');
    expect((await plugin('DEL', 'r2', mk('ref'), ref)).code).toBe(0);
    expect(await natRules()).toContain('same-id');
    expect((await plugin('DEL', 'r2', mk('ref'), { id: 'same-id', path: refPath })).code).toBe(0);
    expect(await natRules()).not.toContain('same-id');
  });
});

describe("kind's kindnetd conflist (ptp + host-local + portmap) through bin/tscni", () => {
  it('runs unchanged: pods reach each other, the outside (masqueraded as kindnetd does) and a host port', async () => {
    const netd = join(sb.dir, 'net.d');
    mkdirSync(netd);
    // Only the lease directory moves into the sandbox; everything else is the file as kindnetd writes it.
    const list = JSON.parse(readFileSync(join(REPO_ROOT, 'examples', 'kindnet.conflist'), 'utf8')) as {
      plugins: Array<{ ipam?: { dataDir?: string } }>;
    };
    const ipam = list.plugins[0]?.ipam;
    if (ipam) ipam.dataDir = join(sb.dir, 'kind-ipam');
    writeFileSync(join(netd, '10-kindnet.conflist'), JSON.stringify(list));
    const env = (cap = '{}'): string[] => [
      `NETCONFPATH=${netd}`,
      `CNI_PATH=${BIN_DIR}`,
      `CNI_CACHE_DIR=${join(sb.dir, 'cache')}`,
      `CAP_ARGS=${cap}`,
    ];
    const tscni = (cmd: string, pod: string, cap?: string): Promise<RunResult> =>
      sb.exec('host', ['env', ...env(cap), join(BIN_DIR, 'tscni'), cmd, 'kindnet', `/run/netns/${sb.nsName(pod)}`]);
    await sb.addContainer('k1');
    await sb.addContainer('k2');
    const add1 = await tscni('add', 'k1', '{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}');
    expect(add1.stderr).toBe('');
    expect(add1.json).toMatchObject({ cniVersion: '0.3.1', ips: [{ version: '4', address: '10.244.1.2/24' }] });
    expect((await tscni('add', 'k2')).code).toBe(0);
    expect(await ping('k1', '10.244.1.3')).toBe(true);
    expect(await ping('k2', '10.244.1.1')).toBe(true);
    // kindnetd masquerades pod traffic leaving the cluster (its KIND-MASQ-AGENT chain), not the plugin.
    expect(await ping('k1', OUTSIDE)).toBe(false);
    await runOk([
      'ip',
      'netns',
      'exec',
      sb.hostNs,
      'iptables',
      '-t',
      'nat',
      '-A',
      'POSTROUTING',
      '-s',
      '10.244.0.0/16',
      '!',
      '-d',
      '10.244.0.0/16',
      '-j',
      'MASQUERADE',
    ]);
    expect(await ping('k1', OUTSIDE)).toBe(true);
    // A host port on the node forwards to pod k1.
    const server = await startServer(sb, 'k1', 80, 'hello from k1');
    try {
      expect(await fetchFrom(sb, 'out', '192.168.61.1', 8080)).toBe('hello from k1');
    } finally {
      server.stop();
    }
    for (const pod of ['k1', 'k2']) expect((await tscni('del', pod)).code).toBe(0);
    expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).not.toContain('dports 8080');
    expect(readdirSync(join(sb.dir, 'kind-ipam', 'kindnet')).filter((f) => f.startsWith('10.'))).toEqual([]);
  });
});

describe('tscni reload puts ptp masquerade back after a flush', () => {
  it('masquerade gone with `iptables -t nat -F`, back (exactly) after reload, then intact', async () => {
    const netd = join(sb.dir, 'net.d-reload');
    mkdirSync(netd);
    writeFileSync(
      join(netd, '10-ptpreload.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'ptpreload',
        plugins: [
          {
            type: 'ptp',
            ipMasq: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: '10.250.7.0/24' }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: join(sb.dir, 'reload-ipam'),
            },
          },
        ],
      }),
    );
    const env = [`NETCONFPATH=${netd}`, `CNI_PATH=${BIN_DIR}`, `CNI_CACHE_DIR=${join(sb.dir, 'reload-cache')}`];
    const tscni = (...args: string[]): Promise<RunResult> =>
      sb.exec('host', ['env', ...env, join(BIN_DIR, 'tscni'), ...args]);
    await sb.addContainer('rl1');
    expect((await tscni('add', 'ptpreload', `/run/netns/${sb.nsName('rl1')}`)).code).toBe(0);
    expect(await ping('rl1', OUTSIDE)).toBe(true); // the outside has no route back: masqueraded
    const before = await natRules();
    expect(before).toContain('ptpreload');

    await runOk(['ip', 'netns', 'exec', sb.hostNs, 'iptables', '-t', 'nat', '-F']);
    expect(await natRules()).not.toContain('ptpreload');
    expect(await ping('rl1', OUTSIDE)).toBe(false);

    const reload = await tscni('reload');
    expect(reload.stderr).toMatch(/1 restored/);
    expect(await ping('rl1', OUTSIDE)).toBe(true);
    const rulesOf = (save: string): string[] => save.split('\n').filter((l) => l.includes('ptpreload'));
    expect(rulesOf(await natRules())).toEqual(rulesOf(before));
    expect((await tscni('reload')).stderr).toMatch(/0 restored, 1 intact/);

    expect((await tscni('del', 'ptpreload', `/run/netns/${sb.nsName('rl1')}`)).code).toBe(0);
    expect(await natRules()).not.toContain('ptpreload');
  });
});
