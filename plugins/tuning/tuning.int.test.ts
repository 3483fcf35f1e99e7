/**
 * tuning against the real kernel, in a sandbox: each container gets a veth pair to the sandbox
 * host (what an interface plugin would have made) and tuning runs chained after it. Covers
 * traffic that only fits the new MTU, every attribute as `ip -d -j link` shows it, sysctls
 * through IFNAME, refusals and rollback, DEL restoring, the reference's state file, results at
 * every version, and the reference tuning side by side (same results, same kernel state, each
 * one's DEL undoing the other's ADD); then tuning in real chains: after bridge, and podman's
 * default list (bridge, portmap, firewall, tuning) with the reference's firewall.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR, Sandbox, type RunResult } from '../../lib/testutil/sandbox';

const OURS = join(BIN_DIR, 'tuning');
const REFERENCE = join(REFERENCE_DIR, 'tuning');
const ALL_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
let sb: Sandbox;
let dataDir = '';
let n = 0;

beforeAll(async () => {
  sb = await Sandbox.create('tun');
  dataDir = join(sb.dir, 'tuning');
});
afterAll(async () => sb?.destroy());

interface Wired {
  ctr: string;
  netns: string;
  ifName: string;
  hostIf: string;
  gateway: string;
  prev: Record<string, unknown>;
}

/** A container with `ifName` wired to the sandbox host by a veth pair, as an interface plugin leaves it. */
async function wire(
  o: { ifName?: string; hostMtu?: number; mac?: string; version?: string; tag?: string } = {},
): Promise<Wired> {
  const i = ++n;
  const ctr = `${o.tag ?? 'c'}${i}`;
  const ifName = o.ifName ?? 'eth0';
  const netns = await sb.addContainer(ctr);
  const hostIf = `th${i}`;
  const ok = async (r: Promise<RunResult>): Promise<void> => {
    const res = await r;
    if (res.code !== 0) throw new Error(res.stderr);
  };
  await ok(
    sb.exec('host', [
      'ip',
      'link',
      'add',
      hostIf,
      'mtu',
      String(o.hostMtu ?? 1500),
      'type',
      'veth',
      'peer',
      'name',
      ifName,
      'netns',
      sb.nsName(ctr),
    ]),
  );
  await ok(sb.exec('host', ['ip', 'addr', 'add', `10.57.${i}.1/24`, 'dev', hostIf]));
  await ok(sb.exec('host', ['ip', 'link', 'set', hostIf, 'up']));
  if (o.mac) await ok(sb.exec(ctr, ['ip', 'link', 'set', ifName, 'address', o.mac]));
  await ok(sb.exec(ctr, ['ip', 'addr', 'add', `10.57.${i}.2/24`, 'dev', ifName]));
  await ok(sb.exec(ctr, ['ip', 'link', 'set', ifName, 'up']));
  const mac = o.mac ?? (await sb.exec(ctr, ['cat', `/sys/class/net/${ifName}/address`])).stdout.trim();
  const version = o.version ?? '1.0.0';
  const prev =
    version < '0.3.0'
      ? { cniVersion: version, ip4: { ip: `10.57.${i}.2/24`, gateway: `10.57.${i}.1` } }
      : {
          cniVersion: version,
          interfaces: [{ name: hostIf }, { name: ifName, mac, sandbox: netns }],
          ips: [
            {
              ...(version < '1.0.0' ? { version: '4' } : {}),
              interface: 1,
              address: `10.57.${i}.2/24`,
              gateway: `10.57.${i}.1`,
            },
          ],
          ...(version < '1.0.0' ? { dns: {} } : {}),
        };
  return { ctr, netns, ifName, hostIf, gateway: `10.57.${i}.1`, prev };
}

const conf = (w: Wired, extra: Record<string, unknown> = {}, version = '1.0.0'): Record<string, unknown> => ({
  cniVersion: version,
  name: 'tunnet',
  type: 'tuning',
  dataDir,
  prevResult: w.prev,
  ...extra,
});
const call = (exe: string, command: string, w: Wired, config: unknown, netns = w.netns): Promise<RunResult> =>
  sb.runPlugin(exe, { command, containerId: `id-${w.ctr}`, netns, ifName: w.ifName }, config);

interface LinkState {
  mtu: number;
  address: string;
  promiscuity: number;
  allmulti: number;
  txqlen: number;
  flags: string[];
}
async function link(w: Wired): Promise<LinkState> {
  const r = await sb.exec(w.ctr, ['ip', '-d', '-j', 'link', 'show', w.ifName]);
  const [l] = JSON.parse(r.stdout) as LinkState[];
  if (!l) throw new Error(`no ${w.ifName} in ${w.ctr}`);
  const { mtu, address, promiscuity, allmulti, txqlen, flags } = l;
  return { mtu, address, promiscuity, allmulti, txqlen, flags: [...flags].sort() };
}
const sysctl = async (w: Wired, rel: string): Promise<string> =>
  (await sb.exec(w.ctr, ['cat', `/proc/sys/${rel}`])).stdout.trim();
/** A ping with Don't Fragment set, `size` bytes of payload. */
const dfPing = async (w: Wired, size: number): Promise<boolean> =>
  (await sb.exec(w.ctr, ['ping', '-M', 'do', '-s', String(size), '-c1', '-W2', w.gateway])).code === 0;
const record = (w: Wired, dir = dataDir): string => join(dir, `id-${w.ctr}_${w.ifName}.json`);

describe('tuning ADD, CHECK and DEL on a wired container', () => {
  it('a raised MTU carries a DF ping that only fits it; DEL puts the old MTU and MAC back', async () => {
    const w = await wire({ hostMtu: 9000 });
    const before = await link(w);
    expect(await dfPing(w, 8000)).toBe(false);
    const c = conf(w, { mtu: 9000, mac: 'c2:11:22:33:44:55' });
    const r = await call(OURS, 'ADD', w, c);
    expect(r.stderr).toBe('');
    expect(r.json).toEqual({
      ...w.prev,
      interfaces: [{ name: w.hostIf }, { name: 'eth0', mac: 'c2:11:22:33:44:55', sandbox: w.netns }],
    });
    expect(await link(w)).toMatchObject({ mtu: 9000, address: 'c2:11:22:33:44:55' });
    expect(await dfPing(w, 8000)).toBe(true);
    expect((await call(OURS, 'CHECK', w, { ...c, prevResult: r.json })).code).toBe(0);
    expect(JSON.parse(readFileSync(record(w), 'utf8'))).toEqual({
      mac: before.address,
      mtu: 1500,
      tscni: { network: 'tunnet' },
    });

    expect((await call(OURS, 'DEL', w, c)).code).toBe(0);
    expect(await link(w)).toEqual(before);
    expect(await dfPing(w, 8000)).toBe(false);
    expect(await dfPing(w, 1400)).toBe(true);
    expect(existsSync(record(w))).toBe(false);
    expect((await call(OURS, 'DEL', w, c)).code).toBe(0); // again: nothing left to do
  });

  it('promisc, allmulti, txQLen and sysctls (IFNAME reaching an interface with a dot in its name)', async () => {
    const w = await wire({ ifName: 'net.1' });
    const before = await link(w);
    const rpf = 'net/ipv4/conf/net.1/rp_filter';
    const rpfBefore = await sysctl(w, rpf);
    const c = conf(w, {
      promisc: true,
      allmulti: true,
      txQLen: 333,
      sysctl: {
        'net.ipv4.conf.IFNAME.rp_filter': '2',
        'net.core.somaxconn': '1234',
        'net/ipv4/tcp_rmem': '4096 87380 1048576',
      },
    });
    const r = await call(OURS, 'ADD', w, c);
    expect(r.code).toBe(0);
    expect(await link(w)).toMatchObject({ promiscuity: 1, allmulti: 1, txqlen: 333 });
    expect((await link(w)).flags).toEqual(expect.arrayContaining(['PROMISC', 'ALLMULTI']));
    expect([await sysctl(w, rpf), await sysctl(w, 'net/core/somaxconn')]).toEqual(['2', '1234']);
    expect((await call(OURS, 'CHECK', w, c)).code).toBe(0);

    await sb.exec(w.ctr, ['ip', 'link', 'set', w.ifName, 'txqueuelen', '1000']);
    expect((await call(OURS, 'CHECK', w, c)).json).toMatchObject({
      msg: 'Error: Tuning configured Transmit Queue Length of net.1 is 333, current value is 1000',
    });
    await sb.exec(w.ctr, ['sh', '-c', 'echo 4096 > /proc/sys/net/core/somaxconn']);
    expect((await call(OURS, 'CHECK', w, c)).json).toMatchObject({
      msg: 'Error: Tuning configured value of /proc/sys/net/core/somaxconn is 1234, current value is 4096',
    });

    expect((await call(OURS, 'DEL', w, c)).code).toBe(0);
    expect(await link(w)).toEqual(before);
    expect(await sysctl(w, rpf)).toBe(rpfBefore);
    expect(await sysctl(w, 'net/core/somaxconn')).toBe('4096');
  });

  it.each([
    [
      'a host-wide sysctl',
      { 'net.core.rmem_max': '1' },
      /cannot set sysctl \/proc\/sys\/net\/core\/rmem_max: it is not per network namespace/,
    ],
    ['conntrack limits', { 'net.netfilter.nf_conntrack_max': '1' }, /not per network namespace/],
    ['a sysctl outside net', { 'kernel.hostname': 'x' }, /^invalid net sysctl key: "kernel.hostname"$/],
    [
      'a path that leaves /proc/sys/net',
      { 'net/../kernel/hostname': 'x' },
      /cannot set sysctl \/proc\/sys\/net\/kernel\/hostname: no such sysctl/,
    ],
    ['an absolute /proc path', { '/proc/sys/net/ipv4/ip_forward': '1' }, /^invalid net sysctl key/],
    ['a directory', { 'net.ipv4.conf.eth0': '1' }, /names a directory/],
  ])('refuses %s with code 7 and changes nothing', async (_what, bad, msg) => {
    const w = await wire();
    const before = await link(w);
    const somaxconn = await sysctl(w, 'net/core/somaxconn');
    const r = await call(OURS, 'ADD', w, conf(w, { mtu: 1400, sysctl: { 'net.core.somaxconn': '777', ...bad } }));
    expect(r.json).toMatchObject({ code: 7, msg: expect.stringMatching(msg) as unknown as string });
    expect(await link(w)).toEqual(before);
    expect(await sysctl(w, 'net/core/somaxconn')).toBe(somaxconn);
    expect(existsSync(record(w))).toBe(false);
  });

  it('the allow-list file refuses what it does not list', async () => {
    const w = await wire();
    const list = join(sb.dir, 'allowlist.conf');
    writeFileSync(list, '^net\\.core\\.somaxconn$\n');
    const run = (sysctls: Record<string, string>): Promise<RunResult> =>
      sb.runPlugin(
        OURS,
        {
          command: 'ADD',
          containerId: `id-${w.ctr}`,
          netns: w.netns,
          ifName: 'eth0',
          env: { TSCNI_TUNING_ALLOWLIST: list },
        },
        conf(w, { sysctl: sysctls }),
      );
    expect((await run({ 'net.ipv4.ip_forward': '1' })).json).toMatchObject({
      code: 7,
      msg: 'Sysctl net.ipv4.ip_forward is not allowed. Only the following sysctls are allowed: [^net\\.core\\.somaxconn$]',
    });
    expect(await sysctl(w, 'net/ipv4/ip_forward')).toBe('0');
    expect((await run({ 'net.core.somaxconn': '321' })).code).toBe(0);
    expect(await sysctl(w, 'net/core/somaxconn')).toBe('321');
  });

  it('a value the kernel refuses rolls back everything already changed', async () => {
    const w = await wire();
    const before = await link(w);
    const r = await call(
      OURS,
      'ADD',
      w,
      conf(w, { mac: 'c2:11:22:33:44:66', allmulti: true, mtu: 70000, sysctl: { 'net.core.somaxconn': '999' } }),
    );
    expect(r.json).toMatchObject({
      code: 999,
      msg: expect.stringMatching(/^failed to set MTU of eth0 to 70000: /) as unknown as string,
    });
    expect(await link(w)).toEqual(before);
    expect(await sysctl(w, 'net/core/somaxconn')).toBe('4096');
    expect(existsSync(record(w))).toBe(false);
  });

  it('without prevResult ADD is refused; an interface that is not there is the reference’s error', async () => {
    const w = await wire();
    expect((await call(OURS, 'ADD', w, { ...conf(w, { mtu: 1400 }), prevResult: undefined })).json).toMatchObject({
      code: 7,
      msg: 'Required prevResult missing',
    });
    const gone = { ...w, ifName: 'eth9' };
    expect((await call(OURS, 'ADD', gone, conf(w, { mtu: 1400 }))).json).toMatchObject({
      msg: 'failed to get "eth9": Link not found',
    });
  });

  it('DEL after the namespace is gone, or without CNI_NETNS, forgets the record and succeeds', async () => {
    const w = await wire();
    expect((await call(OURS, 'ADD', w, conf(w, { mtu: 1400 }))).code).toBe(0);
    expect(existsSync(record(w))).toBe(true);
    expect((await call(OURS, 'DEL', w, conf(w), '')).code).toBe(0);
    expect(existsSync(record(w))).toBe(false);
    expect((await call(OURS, 'ADD', w, conf(w, { mtu: 1400 }))).code).toBe(0);
    await sb.removeContainer(w.ctr);
    expect((await call(OURS, 'DEL', w, conf(w))).code).toBe(0);
    expect(existsSync(record(w))).toBe(false);
  });

  it('without dataDir the record is where the reference keeps it: /run/cni/tuning/<id>_<ifname>.json', async () => {
    const w = await wire();
    // Directories this test creates are removed again (only if still empty).
    const made = ['/run/cni', '/run/cni/tuning'].filter((d) => !existsSync(d)).reverse();
    const c = { ...conf(w, { mtu: 1400 }), dataDir: undefined };
    try {
      expect((await call(OURS, 'ADD', w, c)).code).toBe(0);
      expect(readFileSync(record(w, '/run/cni/tuning'), 'utf8')).toBe(
        '{\n "mtu": 1500,\n "tscni": {\n  "network": "tunnet"\n }\n}',
      );
      expect((await call(OURS, 'DEL', w, c)).code).toBe(0);
      expect(existsSync(record(w, '/run/cni/tuning'))).toBe(false);
    } finally {
      for (const d of made) rmdirSync(d);
    }
  });

  it.each([...ALL_VERSIONS])(
    'cniVersion %s: the previous result comes back in that version, with the new MAC',
    async (version) => {
      const w = await wire({ version });
      const r = await call(OURS, 'ADD', w, conf(w, { mac: 'c2:11:22:33:44:77' }, version));
      expect(r.code).toBe(0);
      const out = r.json as Record<string, unknown>;
      expect(out['cniVersion']).toBe(version);
      if (version < '0.3.0') expect(out).toEqual({ ...w.prev, dns: {} });
      else expect((out['interfaces'] as Array<{ mac?: string }>)[1]?.mac).toBe('c2:11:22:33:44:77');
      if (version >= '0.4.0')
        expect((await call(OURS, 'CHECK', w, conf(w, { mac: 'c2:11:22:33:44:77' }, version))).code).toBe(0);
      expect((await call(OURS, 'DEL', w, conf(w, {}, version))).code).toBe(0);
    },
  );
});

describe('differential: the reference tuning (v1.1.1) on an identical container', () => {
  /** Two containers wired the same way, with the same MAC, so their kernel state can be compared. */
  const pair = async (version = '1.0.0'): Promise<[Wired, Wired]> => [
    await wire({ mac: '0a:58:00:00:00:01', version, tag: 'o' }),
    await wire({ mac: '0a:58:00:00:00:01', version, tag: 'r' }),
  ];
  // Sandbox path, host veth and subnet differ between the two; v1.1.1 prints an empty "dns": {} in 1.x.
  const comparable = (w: Wired, json: unknown, version: string): unknown => {
    const j = JSON.parse(
      JSON.stringify(json)
        .replaceAll(w.netns, 'NS')
        .replaceAll(`"${w.hostIf}"`, '"HOST"')
        .replace(/10\.57\.\d+\./g, '10.57.X.'),
    ) as Record<string, unknown>;
    if (version >= '1.0.0' && JSON.stringify(j['dns']) === '{}') delete j['dns'];
    return j;
  };
  const settings = {
    mac: 'c2:11:22:33:44:88',
    mtu: 1400,
    promisc: true,
    allmulti: true,
    sysctl: { 'net.ipv4.conf.eth0.rp_filter': '2', 'net.core.somaxconn': '555' },
  };

  it.each(['0.2.0', '0.3.1', '0.4.0', '1.0.0'])('%s: same result, same kernel state', async (version) => {
    const [o, r] = await pair(version);
    const ours = await call(OURS, 'ADD', o, conf(o, settings, version));
    const ref = await call(REFERENCE, 'ADD', r, conf(r, settings, version));
    expect([ours.code, ref.code]).toEqual([0, 0]);
    expect(comparable(o, ours.json, version)).toEqual(comparable(r, ref.json, version));
    expect(await link(o)).toEqual(await link(r));
    for (const k of ['net/ipv4/conf/eth0/rp_filter', 'net/core/somaxconn'])
      expect(await sysctl(o, k)).toBe(await sysctl(r, k));
  });

  it('our DEL restores what the reference ADD changed (its state file), and the reverse', async () => {
    const [o, r] = await pair();
    const before = await link(o);
    expect((await call(REFERENCE, 'ADD', r, conf(r, settings))).code).toBe(0);
    expect((await call(OURS, 'ADD', o, conf(o, settings))).code).toBe(0);
    // The reference's file, in the same directory as ours.
    expect(JSON.parse(readFileSync(record(r), 'utf8'))).toEqual({
      mac: '0a:58:00:00:00:01',
      promisc: false,
      mtu: 1500,
      allmulti: false,
    });
    // Each restores the other's: the reference reads past our extra key.
    expect((await call(OURS, 'DEL', r, conf(r))).code).toBe(0);
    expect((await call(REFERENCE, 'DEL', o, conf(o))).code).toBe(0);
    expect(await link(r)).toEqual(before);
    expect(await link(o)).toEqual(before);
    expect([existsSync(record(o)), existsSync(record(r))]).toEqual([false, false]);
    // Neither file held the reference's sysctl originals: only tscni restores sysctls, and only its own.
    expect(await sysctl(r, 'net/core/somaxconn')).toBe('555');
  });

  it('both refuse a sysctl outside net and a missing prevResult', async () => {
    const [o, r] = await pair();
    for (const [w, exe] of [
      [o, OURS],
      [r, REFERENCE],
    ] as const) {
      expect((await call(exe, 'ADD', w, conf(w, { sysctl: { 'kernel.hostname': 'x' } }))).json).toMatchObject({
        msg: 'invalid net sysctl key: "kernel.hostname"',
      });
      expect((await call(exe, 'ADD', w, { ...conf(w), prevResult: undefined })).json).toMatchObject({
        msg: 'Required prevResult missing',
      });
    }
  });

  it('IFNAME with a dot in the interface name: ours reaches it, v1.1.1 cannot', async () => {
    const o = await wire({ ifName: 'net.2', tag: 'o' });
    const r = await wire({ ifName: 'net.2', tag: 'r' });
    const c = (w: Wired): Record<string, unknown> => conf(w, { sysctl: { 'net.ipv4.conf.IFNAME.rp_filter': '2' } });
    expect((await call(OURS, 'ADD', o, c(o))).code).toBe(0);
    expect(await sysctl(o, 'net/ipv4/conf/net.2/rp_filter')).toBe('2');
    expect((await call(REFERENCE, 'ADD', r, c(r))).json).toMatchObject({ code: 999 });
  });
});

describe('tuning in chains', () => {
  it('after bridge: the container MTU lowered below the bridge’s; DF pings show it', async () => {
    const netns = await sb.addContainer('br');
    const bridge = {
      type: 'bridge',
      bridge: 'tunbr0',
      mtu: 9000,
      isGateway: true,
      ipam: { type: 'host-local', subnet: '10.58.0.0/24', dataDir: join(sb.dir, 'ipam') },
    };
    const base = { cniVersion: '1.0.0', name: 'brtun' };
    const callIn = (
      exe: string,
      command: string,
      plugin: Record<string, unknown>,
      prevResult?: unknown,
    ): Promise<RunResult> =>
      sb.runPlugin(
        exe,
        { command, containerId: 'id-br', netns, ifName: 'eth0' },
        { ...base, ...plugin, ...(prevResult ? { prevResult } : {}) },
      );
    const br = await callIn(join(BIN_DIR, 'bridge'), 'ADD', bridge);
    expect(br.code).toBe(0);
    const tuning = { type: 'tuning', mtu: 1400, mac: 'c2:11:22:33:44:99', dataDir };
    const tu = await callIn(OURS, 'ADD', tuning, br.json);
    expect(tu.code).toBe(0);
    const ifaces = (tu.json as { interfaces: Array<{ name: string; mac: string }> }).interfaces;
    expect(ifaces[2]).toMatchObject({ name: 'eth0', mac: 'c2:11:22:33:44:99' });
    const w = { ctr: 'br', ifName: 'eth0', gateway: '10.58.0.1' } as Wired;
    expect(await dfPing(w, 1372)).toBe(true);
    expect(await dfPing(w, 1373)).toBe(false);
    expect((await callIn(join(BIN_DIR, 'bridge'), 'CHECK', bridge, tu.json)).code).toBe(0);
    expect((await callIn(OURS, 'CHECK', tuning, tu.json)).code).toBe(0);
    expect((await callIn(OURS, 'DEL', tuning, tu.json)).code).toBe(0);
    expect(await dfPing(w, 8000)).toBe(true);
    expect((await callIn(join(BIN_DIR, 'bridge'), 'DEL', bridge, tu.json)).code).toBe(0);
  });

  it("podman's default list (bridge, portmap, firewall, tuning) with the reference firewall in a mixed bin dir", async () => {
    const netns = await sb.addContainer('pod');
    const bin = join(sb.dir, 'mixed-bin');
    mkdirSync(bin);
    for (const p of ['bridge', 'host-local', 'portmap', 'tuning']) symlinkSync(join(BIN_DIR, p), join(bin, p));
    symlinkSync(join(REFERENCE_DIR, 'firewall'), join(bin, 'firewall'));
    const netd = join(sb.dir, 'podman-net.d');
    mkdirSync(netd);
    // As podman 3/4 wrote 87-podman-bridge.conflist (subnet and bridge name changed for the sandbox).
    writeFileSync(
      join(netd, '87-podman-bridge.conflist'),
      JSON.stringify({
        cniVersion: '0.4.0',
        name: 'podman',
        plugins: [
          {
            type: 'bridge',
            bridge: 'cni-podman0',
            isGateway: true,
            ipMasq: true,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              routes: [{ dst: '0.0.0.0/0' }],
              ranges: [[{ subnet: '10.59.0.0/24', gateway: '10.59.0.1' }]],
              dataDir: join(sb.dir, 'podman-ipam'),
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
          { type: 'firewall' },
          { type: 'tuning', dataDir },
        ],
      }),
    );
    const env = [
      `NETCONFPATH=${netd}`,
      `CNI_PATH=${bin}`,
      `CNI_CACHE_DIR=${join(sb.dir, 'podman-cache')}`,
      'CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web',
    ];
    const tscni = (...args: string[]): Promise<RunResult> =>
      sb.exec('host', ['env', ...env, join(BIN_DIR, 'tscni'), ...args]);
    const add = await tscni('add', 'podman', netns);
    expect(add.stderr).toBe('');
    const result = JSON.parse(add.stdout) as { cniVersion: string; ips: Array<{ address: string }> };
    expect(result).toMatchObject({
      cniVersion: '0.4.0',
      ips: [{ version: '4', address: '10.59.0.2/24', gateway: '10.59.0.1' }],
    });
    expect((await sb.exec('pod', ['ping', '-c1', '-W2', '10.59.0.1'])).code).toBe(0);
    expect((await sb.exec('host', ['iptables-save', '-t', 'filter'])).stdout).toContain('CNI-FORWARD');
    expect((await tscni('check', 'podman', netns)).code).toBe(0);
    expect((await tscni('del', 'podman', netns)).code).toBe(0);
    expect((await sb.exec('pod', ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
  });
});
