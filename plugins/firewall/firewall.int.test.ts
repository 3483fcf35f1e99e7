/**
 * firewall against the real kernel, each group in its own sandbox: the reference's rules
 * (differential, both directions), bridge isolation proven with traffic on both backends and
 * under a FORWARD policy of DROP, every verb, bad input and rollback, podman's conflist shape.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, REFERENCE_DIR, Sandbox, runOk, type RunResult } from '../../lib/testutil/sandbox';
import { pings } from '../../lib/testutil/traffic';

const FIREWALL = join(BIN_DIR, 'firewall');
const REF_FIREWALL = join(REFERENCE_DIR, 'firewall');

/** A bridge plugin's result for container `name` on `bridge` with `ips` (what firewall is chained after). */
function bridgeResult(
  sb: Sandbox,
  name: string,
  bridge: string,
  ips: string[],
  version = '1.0.0',
): Record<string, unknown> {
  return {
    cniVersion: version,
    interfaces: [
      { name: bridge, mac: '0a:58:00:00:00:01' },
      { name: `veth${name}`, mac: '0a:58:00:00:00:02' },
      { name: 'eth0', mac: '0a:58:00:00:00:03', sandbox: `/run/netns/${sb.nsName(name)}` },
    ],
    ips: ips.map((address) => ({ interface: 2, address })),
  };
}

function fwConf(sb: Sandbox, extra: Record<string, unknown> = {}, prevResult?: unknown): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'fwnet',
    type: 'firewall',
    dataDir: join(sb.dir, 'fw'),
    ...(prevResult === undefined ? {} : { prevResult }),
    ...extra,
  };
}

function fw(
  sb: Sandbox,
  command: string,
  name: string,
  config: unknown,
  opts: { exe?: string; netns?: string; env?: Record<string, string | undefined> } = {},
): Promise<RunResult> {
  return sb.runPlugin(
    opts.exe ?? FIREWALL,
    {
      command,
      containerId: `ctr-${name}`,
      netns: opts.netns ?? `/run/netns/${sb.nsName(name)}`,
      ifName: 'eth0',
      ...(opts.env ? { env: opts.env } : {}),
    },
    config,
  );
}

/** Both families' filter tables, without the comment lines iptables-save adds. */
async function filterRules(sb: Sandbox): Promise<string> {
  const v4 = (await sb.exec('host', ['iptables-save', '-t', 'filter'])).stdout;
  const v6 = (await sb.exec('host', ['ip6tables-save', '-t', 'filter'])).stdout;
  return (v4 + v6)
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
}
const nftTable = async (sb: Sandbox): Promise<string> =>
  (await sb.exec('host', ['nft', 'list', 'table', 'inet', 'tscni_firewall'])).stdout;
const records = (sb: Sandbox): string[] => {
  const d = join(sb.dir, 'fw', 'attachments', 'fwnet');
  return existsSync(d) ? readdirSync(d) : [];
};
const ok = (r: RunResult): RunResult => {
  if (r.code !== 0) throw new Error(`plugin failed: ${r.stdout}${r.stderr}`);
  return r;
};

describe('differential: the reference firewall in the same sandbox', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await Sandbox.create('fwd');
    for (const n of ['c1', 'c2']) await sb.addContainer(n);
  });
  afterAll(async () => sb.destroy());

  const prev1 = (): Record<string, unknown> => bridgeResult(sb, 'c1', 'dfbr1', ['10.71.0.2/24', 'fd71::2/64']);
  const prev2 = (): Record<string, unknown> => bridgeResult(sb, 'c2', 'dfbr2', ['10.72.0.2/24', 'fd72::2/64']);

  it('makes exactly the reference’s rules (both families, two isolated bridges, custom admin chain)', async () => {
    const pristine = await filterRules(sb);
    const extra = { ingressPolicy: 'same-bridge', iptablesAdminChainName: 'FW-ADMIN' };
    ok(await fw(sb, 'ADD', 'c1', fwConf(sb, extra, prev1()), { exe: REF_FIREWALL }));
    ok(await fw(sb, 'ADD', 'c2', fwConf(sb, extra, prev2()), { exe: REF_FIREWALL }));
    const theirs = await filterRules(sb);
    expect(theirs).toContain('-A CNI-ISOLATION-STAGE-1 -i dfbr2 ! -o dfbr2');

    // Our DEL removes the reference's rules (it has no record of them: it acts on prevResult),
    // including the isolation the reference itself never removes.
    ok(await fw(sb, 'DEL', 'c1', fwConf(sb, extra, prev1())));
    ok(await fw(sb, 'DEL', 'c2', fwConf(sb, extra, prev2())));
    const afterOurDel = await filterRules(sb);
    expect(afterOurDel).not.toMatch(/10\.7[12]\.0\.2|fd7[12]::2|ISOLATION/);

    ok(await fw(sb, 'ADD', 'c1', fwConf(sb, extra, prev1())));
    ok(await fw(sb, 'ADD', 'c2', fwConf(sb, extra, prev2())));
    expect(await filterRules(sb)).toBe(theirs);

    // The reference's DEL removes our address rules (it leaves isolation, as it always does)...
    ok(await fw(sb, 'DEL', 'c1', fwConf(sb, extra, prev1()), { exe: REF_FIREWALL }));
    expect(await filterRules(sb)).not.toMatch(/10\.71\.0\.2|fd71::2/);
    // ...and ours, without prevResult, finds the rest from its records.
    ok(await fw(sb, 'DEL', 'c1', fwConf(sb, extra)));
    ok(await fw(sb, 'DEL', 'c2', fwConf(sb, extra), { netns: '' }));
    expect(await filterRules(sb)).toBe(afterOurDel);
    expect(records(sb)).toEqual([]);
    expect(pristine).not.toContain('CNI-FORWARD');
  });

  it('passes prevResult through like the reference (an empty dns aside)', async () => {
    const ref = ok(await fw(sb, 'ADD', 'c1', fwConf(sb, {}, prev1()), { exe: REF_FIREWALL }));
    const ours = ok(await fw(sb, 'ADD', 'c1', fwConf(sb, {}, prev1())));
    const strip = (j: unknown): unknown => JSON.parse(JSON.stringify(j).replace(/,"dns":\{\}/, ''));
    expect(strip(ours.json)).toEqual(strip(ref.json));
    ok(await fw(sb, 'DEL', 'c1', fwConf(sb, {}, prev1())));
  });

  it('the reference’s CHECK accepts our rules and ours accepts the reference’s', async () => {
    const conf = fwConf(sb, { ingressPolicy: 'same-bridge' }, prev1());
    ok(await fw(sb, 'ADD', 'c1', conf));
    expect((await fw(sb, 'CHECK', 'c1', conf, { exe: REF_FIREWALL })).code).toBe(0);
    ok(await fw(sb, 'DEL', 'c1', conf));
    ok(await fw(sb, 'ADD', 'c1', conf, { exe: REF_FIREWALL }));
    const check = await fw(sb, 'CHECK', 'c1', conf);
    expect(check.stdout).toBe('');
    expect(check.code).toBe(0);
    ok(await fw(sb, 'DEL', 'c1', conf));
  });
});

/**
 * Two bridge networks with two containers each, set up through `bin/tscni add` (bridge +
 * host-local + firewall), and an "outside" namespace behind the sandbox host.
 */
for (const backend of ['iptables', 'nftables'] as const) {
  describe(`ingressPolicy same-bridge with traffic (${backend})`, () => {
    let sb: Sandbox;
    let env: Record<string, string> = {};
    const n = backend === 'iptables' ? 6 : 5;
    const ipOf = (net: 'a' | 'b', i: number): string => `10.${n}${net === 'a' ? 1 : 2}.0.${i + 1}`;
    const tscni = (...args: string[]): Promise<RunResult> =>
      sb.exec('host', ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), join(BIN_DIR, 'tscni'), ...args]);
    const ping = (from: string, to: string): Promise<boolean> => pings(sb, from, to, 1);
    const netns = (name: string): string => `/run/netns/${sb.nsName(name)}`;

    beforeAll(async () => {
      sb = await Sandbox.create(`fwt${backend[0]}`);
      mkdirSync(join(sb.dir, 'net.d'));
      for (const net of ['a', 'b'] as const) {
        writeFileSync(
          join(sb.dir, 'net.d', `10-net${net}.conflist`),
          JSON.stringify({
            cniVersion: '1.1.0',
            name: `net${net}`,
            plugins: [
              {
                type: 'bridge',
                bridge: `fw${net}${backend[0]}0`,
                isDefaultGateway: true,
                ipMasq: true,
                ipMasqBackend: backend,
                ipam: {
                  type: 'host-local',
                  subnet: `10.${n}${net === 'a' ? 1 : 2}.0.0/24`,
                  dataDir: join(sb.dir, 'leases'),
                },
              },
              { type: 'firewall', backend, ingressPolicy: 'same-bridge', dataDir: join(sb.dir, 'fw') },
            ],
          }),
        );
      }
      // A control network without firewall: shows that the host routes between bridges at all.
      writeFileSync(
        join(sb.dir, 'net.d', '10-netd.conflist'),
        JSON.stringify({
          cniVersion: '1.1.0',
          name: 'netd',
          plugins: [
            {
              type: 'bridge',
              bridge: `fwd${backend[0]}0`,
              isDefaultGateway: true,
              ipam: { type: 'host-local', subnet: `10.${n}3.0.0/24`, dataDir: join(sb.dir, 'leases') },
            },
          ],
        }),
      );
      env = { NETCONFPATH: join(sb.dir, 'net.d'), CNI_PATH: BIN_DIR, CNI_CACHE_DIR: join(sb.dir, 'cache') };
      for (const name of ['a1', 'a2', 'b1', 'b2', 'd1']) {
        await sb.addContainer(name);
        const r = await tscni('add', `net${name[0]}`, netns(name));
        if (r.code !== 0) throw new Error(`tscni add ${name}: ${r.stderr}`);
      }
      // The outside: 192.168.6n.2 on the other end of a veth from the sandbox host.
      await sb.addContainer('out');
      await runOk([
        'ip',
        '-n',
        sb.hostNs,
        'link',
        'add',
        'up0',
        'type',
        'veth',
        'peer',
        'name',
        'up1',
        'netns',
        sb.nsName('out'),
      ]);
      await runOk(['ip', '-n', sb.hostNs, 'addr', 'add', `192.168.6${n}.1/24`, 'dev', 'up0']);
      await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'up0', 'up']);
      await runOk(['ip', '-n', sb.nsName('out'), 'addr', 'add', `192.168.6${n}.2/24`, 'dev', 'up1']);
      await runOk(['ip', '-n', sb.nsName('out'), 'link', 'set', 'up1', 'up']);
    });
    afterAll(async () => sb.destroy());

    const expectIsolation = async (): Promise<void> => {
      // Same network: passes.
      expect(await ping('a1', ipOf('a', 2))).toBe(true);
      expect(await ping('b2', ipOf('b', 1))).toBe(true);
      // Across networks: dropped, both ways.
      expect(await ping('a1', ipOf('b', 1))).toBe(false);
      expect(await ping('b2', ipOf('a', 2))).toBe(false);
      // Both networks still reach the outside.
      expect(await ping('a2', `192.168.6${n}.2`)).toBe(true);
      expect(await ping('b1', `192.168.6${n}.2`)).toBe(true);
    };

    it('same network passes, across networks is dropped, the outside is reachable', async () => {
      // Control: between a network without isolation and an isolated one, the host routes.
      expect(await ping('d1', ipOf('a', 1))).toBe(true);
      expect(await ping('b1', `10.${n}3.0.2`)).toBe(true);
      await expectIsolation();
    });

    it('CHECK passes for every container', async () => {
      for (const name of ['a1', 'a2', 'b1', 'b2']) {
        const r = await tscni('check', `net${name[0]}`, netns(name));
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      }
    });

    if (backend === 'iptables') {
      it('still flows when the host’s FORWARD policy is DROP (as on a host that runs Docker)', async () => {
        await runOk(['ip', 'netns', 'exec', sb.hostNs, 'iptables', '-P', 'FORWARD', 'DROP']);
        await runOk(['ip', 'netns', 'exec', sb.hostNs, 'ip6tables', '-P', 'FORWARD', 'DROP']);
        try {
          await expectIsolation();
          // Control: a container on a network without firewall is cut off by that policy.
          writeFileSync(
            join(sb.dir, 'net.d', '20-netc.conflist'),
            JSON.stringify({
              cniVersion: '1.1.0',
              name: 'netc',
              plugins: [
                {
                  type: 'bridge',
                  bridge: 'fwcbr0',
                  isDefaultGateway: true,
                  ipMasq: true,
                  ipam: { type: 'host-local', subnet: '10.63.0.0/24', dataDir: join(sb.dir, 'leases') },
                },
              ],
            }),
          );
          await sb.addContainer('c1');
          expect((await tscni('add', 'netc', netns('c1'))).code).toBe(0);
          expect(await ping('c1', `192.168.6${n}.2`)).toBe(false);
          expect((await tscni('del', 'netc', netns('c1'))).code).toBe(0);
        } finally {
          await runOk(['ip', 'netns', 'exec', sb.hostNs, 'iptables', '-P', 'FORWARD', 'ACCEPT']);
          await runOk(['ip', 'netns', 'exec', sb.hostNs, 'ip6tables', '-P', 'FORWARD', 'ACCEPT']);
        }
      });
    }

    it('a bridge’s isolation goes with its last container, the rest when no bridge is left', async () => {
      const isolated = async (): Promise<string> => (backend === 'iptables' ? filterRules(sb) : nftTable(sb));
      const a = `fwa${backend[0]}0`;
      const b = `fwb${backend[0]}0`;
      expect(await isolated()).toContain(a);
      expect((await tscni('del', 'neta', netns('a1'))).code).toBe(0);
      expect(await isolated()).toContain(a); // a2 is still there
      expect((await tscni('del', 'neta', netns('a2'))).code).toBe(0);
      expect(await isolated()).not.toContain(a);
      expect(await isolated()).toContain(b);
      // Without network a's isolation, b is still isolated from nothing else: its own traffic flows.
      expect(await ping('b1', ipOf('b', 2))).toBe(true);
      expect((await tscni('del', 'netb', netns('b1'))).code).toBe(0);
      expect((await tscni('del', 'netb', netns('b2'))).code).toBe(0);
      const after = await isolated();
      expect(after).not.toContain(b);
      if (backend === 'iptables') expect(after).not.toContain('CNI-ISOLATION');
      expect(after).not.toMatch(new RegExp(`10\\.${n}[12]\\.0\\.`));
    });
  });
}

describe('verbs, versions and bad input', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await Sandbox.create('fwv');
    for (const n of ['v1', 'v2', 'v3']) await sb.addContainer(n);
  });
  afterAll(async () => sb.destroy());
  const prev = (name: string, ips = ['10.73.0.2/24'], bridge = 'vbr0'): Record<string, unknown> =>
    bridgeResult(sb, name, bridge, ips);

  it('rejects a missing prevResult, an unknown policy or backend, and bad names with code 7, creating nothing', async () => {
    const before = await filterRules(sb);
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [fwConf(sb), /missing prevResult from earlier plugin/],
      [fwConf(sb, { ingressPolicy: 'closed' }, prev('v1')), /unknown ingress policy: "closed"/],
      [fwConf(sb, { backend: 'ipfw' }, prev('v1')), /unknown firewall backend "ipfw"/],
      [fwConf(sb, { iptablesAdminChainName: 'CNI-FORWARD' }, prev('v1')), /invalid iptablesAdminChainName/],
      [fwConf(sb, { iptablesAdminChainName: 'X -j ACCEPT' }, prev('v1')), /invalid iptablesAdminChainName/],
      [fwConf(sb, { backend: 'nftables', iptablesAdminChainName: 'MINE' }, prev('v1')), /iptables-specific options/],
      [fwConf(sb, { firewalldZone: 'a b' }, prev('v1')), /invalid firewalldZone/],
      [
        fwConf(sb, { ingressPolicy: 'same-bridge' }, prev('v1', ['10.73.0.2/24'], 'br0 -j ACCEPT')),
        /invalid bridge name/,
      ],
      [
        fwConf(sb, { ingressPolicy: 'same-bridge' }, { cniVersion: '1.0.0', ips: [{ address: '10.73.0.2/24' }] }),
        /interface needs to be set/,
      ],
      [fwConf(sb, { iptablesAdminChainName: 7 }, prev('v1')), /invalid firewall configuration/],
    ];
    for (const [conf, msg] of cases) {
      const r = await fw(sb, 'ADD', 'v1', conf);
      expect({ code: r.code, ...(r.json as object) }).toMatchObject({ code: 7 });
      expect((r.json as { msg: string }).msg).toMatch(msg);
    }
    expect(await filterRules(sb)).toBe(before);
    expect(records(sb)).toEqual([]);
  });

  it('backend firewalld where no firewalld runs: code 50 from ADD, CHECK and STATUS; DEL succeeds', async () => {
    const conf = fwConf(sb, { backend: 'firewalld', cniVersion: '1.1.0' }, prev('v1'));
    const add = await fw(sb, 'ADD', 'v1', conf);
    expect(add.json).toMatchObject({ code: 50, msg: 'firewalld is not running' });
    expect((await fw(sb, 'CHECK', 'v1', conf)).json).toMatchObject({ code: 50 });
    expect((await sb.runPlugin(FIREWALL, { command: 'STATUS' }, conf)).json).toMatchObject({ code: 50 });
    expect((await fw(sb, 'DEL', 'v1', conf)).code).toBe(0);
    expect(records(sb)).toEqual([]);
  });

  for (const version of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
    it(`[${version}] ADD passes prevResult through, CHECK (0.4.0+) passes, DEL removes the rules`, async () => {
      const p = { ...prev('v2', ['10.73.0.9/24']), cniVersion: version };
      const conf = { ...fwConf(sb, {}, p), cniVersion: version };
      const add = ok(await fw(sb, 'ADD', 'v2', conf));
      expect((add.json as { cniVersion: string }).cniVersion).toBe(version);
      expect(await filterRules(sb)).toContain('-A CNI-FORWARD -s 10.73.0.9/32 -j ACCEPT');
      const check = await fw(sb, 'CHECK', 'v2', conf);
      if (version === '0.3.0' || version === '0.3.1')
        expect(check.json).toMatchObject({ code: 1, msg: 'config version does not allow CHECK' });
      else expect(check.code).toBe(0);
      ok(await fw(sb, 'DEL', 'v2', conf));
      expect(await filterRules(sb)).not.toContain('10.73.0.9');
    });
  }

  it('CHECK fails once a rule is gone, naming it', async () => {
    const conf = fwConf(sb, { ingressPolicy: 'same-bridge' }, prev('v1'));
    ok(await fw(sb, 'ADD', 'v1', conf));
    await runOk([
      'ip',
      'netns',
      'exec',
      sb.hostNs,
      'iptables',
      '-D',
      'CNI-FORWARD',
      '-s',
      '10.73.0.2/32',
      '-j',
      'ACCEPT',
    ]);
    const r = await fw(sb, 'CHECK', 'v1', conf);
    expect(r.json).toMatchObject({
      code: 999,
      msg: 'firewall rule not found in iptables table filter',
      details: '-A CNI-FORWARD -s 10.73.0.2/32 -j ACCEPT',
    });
    ok(await fw(sb, 'DEL', 'v1', conf));
  });

  it('DEL keeps an address another attachment still holds, and removes it with the last one', async () => {
    // Two networks whose containers got the same address (overlapping subnets on different bridges).
    const one = { ...fwConf(sb, {}, prev('v1', ['10.73.0.5/24'], 'vbr1')), name: 'one' };
    const two = { ...fwConf(sb, {}, prev('v2', ['10.73.0.5/24'], 'vbr2')), name: 'two' };
    ok(await fw(sb, 'ADD', 'v1', one));
    ok(await fw(sb, 'ADD', 'v2', two));
    ok(await fw(sb, 'DEL', 'v1', { ...one, prevResult: undefined }));
    expect(await filterRules(sb)).toContain('-s 10.73.0.5/32 -j ACCEPT');
    ok(await fw(sb, 'DEL', 'v2', { ...two, prevResult: undefined }));
    expect(await filterRules(sb)).not.toContain('10.73.0.5');
  });

  it('a repeated ADD with another address replaces the old one', async () => {
    ok(await fw(sb, 'ADD', 'v3', fwConf(sb, {}, prev('v3', ['10.73.0.7/24']))));
    ok(await fw(sb, 'ADD', 'v3', fwConf(sb, {}, prev('v3', ['10.73.0.8/24']))));
    const rules = await filterRules(sb);
    expect(rules).not.toContain('10.73.0.7');
    expect(rules).toContain('-s 10.73.0.8/32 -j ACCEPT');
    ok(await fw(sb, 'DEL', 'v3', fwConf(sb)));
    expect(await filterRules(sb)).not.toContain('10.73.0.8');
  });

  it('a failed ADD (the IPv6 restore refuses) leaves no IPv4 rule and no record', async () => {
    const tools = join(sb.dir, 'tools-no-ip6');
    mkdirSync(tools);
    for (const t of ['ip', 'iptables', 'iptables-restore', 'ip6tables', 'nft']) {
      const real = (await sb.exec('host', ['sh', '-c', `command -v ${t}`])).stdout.trim();
      if (real) symlinkSync(real, join(tools, t));
    }
    writeFileSync(join(tools, 'ip6tables-restore'), '#!/bin/sh\necho "ip6tables-restore: refused" >&2\nexit 1\n');
    chmodSync(join(tools, 'ip6tables-restore'), 0o755);
    const before = await filterRules(sb);
    const r = await fw(
      sb,
      'ADD',
      'v1',
      fwConf(sb, { backend: 'iptables' }, prev('v1', ['10.73.0.11/24', 'fd73::11/64'])),
      {
        env: { PATH: tools },
      },
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ip6tables-restore/);
    const after = await filterRules(sb);
    expect(after).not.toContain('10.73.0.11');
    expect(
      after.replace(
        /\n:CNI-(FORWARD|ADMIN) - \[0:0\]|\n-A (FORWARD|CNI-FORWARD) -m comment --comment "CNI firewall plugin (rules|admin overrides)" -j CNI-(FORWARD|ADMIN)/g,
        '',
      ),
    ).toBe(
      before.replace(
        /\n:CNI-(FORWARD|ADMIN) - \[0:0\]|\n-A (FORWARD|CNI-FORWARD) -m comment --comment "CNI firewall plugin (rules|admin overrides)" -j CNI-(FORWARD|ADMIN)/g,
        '',
      ),
    );
    expect(records(sb)).toEqual([]);
  });

  it('GC releases attachments missing from cni.dev/valid-attachments, and nothing without the list', async () => {
    const conf = (name: string, ip: string): Record<string, unknown> => ({
      ...fwConf(sb, { ingressPolicy: 'same-bridge' }, prev(name, [ip], 'gcbr0')),
      cniVersion: '1.1.0',
    });
    ok(await fw(sb, 'ADD', 'v1', conf('v1', '10.73.0.21/24')));
    ok(await fw(sb, 'ADD', 'v2', conf('v2', '10.73.0.22/24')));
    const gcConf = { ...fwConf(sb, { ingressPolicy: 'same-bridge' }), cniVersion: '1.1.0' };
    ok(await sb.runPlugin(FIREWALL, { command: 'GC' }, gcConf));
    expect(await filterRules(sb)).toContain('10.73.0.21');
    ok(
      await sb.runPlugin(
        FIREWALL,
        { command: 'GC' },
        { ...gcConf, 'cni.dev/valid-attachments': [{ containerID: 'ctr-v2', ifname: 'eth0' }] },
      ),
    );
    let rules = await filterRules(sb);
    expect(rules).not.toContain('10.73.0.21');
    expect(rules).toContain('10.73.0.22');
    expect(rules).toContain('-i gcbr0 ! -o gcbr0');
    ok(await sb.runPlugin(FIREWALL, { command: 'GC' }, { ...gcConf, 'cni.dev/valid-attachments': [] }));
    rules = await filterRules(sb);
    expect(rules).not.toContain('10.73.0.22');
    expect(rules).not.toContain('gcbr0');
    expect(records(sb)).toEqual([]);
  });

  it('STATUS answers for a 1.1.0 config; GC and STATUS need 1.1.0', async () => {
    expect((await sb.runPlugin(FIREWALL, { command: 'STATUS' }, { ...fwConf(sb), cniVersion: '1.1.0' })).code).toBe(0);
    const gc = await sb.runPlugin(FIREWALL, { command: 'GC' }, fwConf(sb));
    expect(gc.json).toMatchObject({ code: 1, msg: 'config version does not allow GC' });
  });

  it('nftables: DEL without prevResult finds the elements from the record; CHECK notices a missing one', async () => {
    const conf = fwConf(
      sb,
      { backend: 'nftables', ingressPolicy: 'same-bridge' },
      prev('v1', ['10.73.0.31/24', 'fd73::31/64'], 'nbr0'),
    );
    ok(await fw(sb, 'ADD', 'v1', conf));
    expect(await nftTable(sb)).toContain('10.73.0.31 comment "n=fwnet;c=ctr-v1;i=eth0"');
    ok(await fw(sb, 'CHECK', 'v1', conf));
    await runOk([
      'ip',
      'netns',
      'exec',
      sb.hostNs,
      'nft',
      'delete',
      'element',
      'inet',
      'tscni_firewall',
      'containers6',
      '{ fd73::31 }',
    ]);
    expect((await fw(sb, 'CHECK', 'v1', conf)).json).toMatchObject({
      msg: 'address fd73::31 not found in set containers6 of inet tscni_firewall',
    });
    ok(await fw(sb, 'DEL', 'v1', { ...conf, prevResult: undefined }, { netns: '' }));
    const t = await nftTable(sb);
    expect(t).not.toContain('10.73.0.31');
    expect(t).not.toContain('nbr0');
  });
});

describe('concurrency and the default backend', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await Sandbox.create('fwc');
  });
  afterAll(async () => sb.destroy());

  it('eight ADDs at once on a host without the chains all land, and nine DELs at once leave nothing', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `k${i}`);
    for (const name of names) await sb.addContainer(name);
    const conf = (name: string, i: number): Record<string, unknown> =>
      fwConf(
        sb,
        { ingressPolicy: 'same-bridge' },
        bridgeResult(sb, name, `kbr${i % 2}`, [`10.74.0.${i + 2}/24`, `fd74::${i + 2}/64`]),
      );
    const adds = await Promise.all(names.map((name, i) => fw(sb, 'ADD', name, conf(name, i))));
    for (const r of adds) expect(r.stdout + r.stderr).not.toMatch(/"code"/);
    const rules = await filterRules(sb);
    for (let i = 0; i < 8; i++) {
      expect(rules).toContain(`-A CNI-FORWARD -s 10.74.0.${i + 2}/32 -j ACCEPT`);
      expect(rules).toContain(`-A CNI-FORWARD -s fd74::${i + 2}/128 -j ACCEPT`);
    }
    // Writers that read the same state may both add a shared rule; the next change removes the copy.
    await sb.addContainer('k8');
    ok(await fw(sb, 'ADD', 'k8', conf('k8', 8)));
    const settled = await filterRules(sb);
    expect(settled.match(/^-A FORWARD .*-j CNI-FORWARD$/gm)).toHaveLength(2);
    expect(settled.match(/^-A FORWARD .*-j CNI-ISOLATION-STAGE-1$/gm)).toHaveLength(2);
    expect(settled.match(/^-A CNI-ISOLATION-STAGE-1 -i kbr0 /gm)).toHaveLength(2);
    names.push('k8');
    const dels = await Promise.all(names.map((name, i) => fw(sb, 'DEL', name, conf(name, i))));
    for (const r of dels) expect(r.stdout).toBe('');
    for (const r of dels) expect(r.code).toBe(0);
    const after = await filterRules(sb);
    expect(after).not.toMatch(/10\.74\.|fd74::|kbr|ISOLATION/);
    expect(records(sb)).toEqual([]);
  });

  it('no backend configured and no iptables tools: nftables, and DEL finds it from the record', async () => {
    const tools = join(sb.dir, 'tools-no-iptables');
    mkdirSync(tools);
    for (const t of ['ip', 'nft']) {
      const real = (await sb.exec('host', ['sh', '-c', `command -v ${t}`])).stdout.trim();
      symlinkSync(real, join(tools, t));
    }
    await sb.addContainer('dn');
    const conf = fwConf(sb, {}, bridgeResult(sb, 'dn', 'dnbr0', ['10.74.1.2/24']));
    ok(await fw(sb, 'ADD', 'dn', conf, { env: { PATH: tools } }));
    expect(await nftTable(sb)).toContain('10.74.1.2');
    expect(await filterRules(sb)).not.toContain('10.74.1.2');
    ok(await fw(sb, 'CHECK', 'dn', conf, { env: { PATH: tools } }));
    // DEL with iptables back on PATH still removes the elements where ADD put them.
    ok(await fw(sb, 'DEL', 'dn', { ...conf, prevResult: undefined }));
    expect(await nftTable(sb)).not.toContain('10.74.1.2');
  });
});

describe('podman’s conflist: bridge, portmap, firewall and the reference tuning', () => {
  let sb: Sandbox;
  let env: Record<string, string> = {};
  const tscni = (...args: string[]): Promise<RunResult> =>
    sb.exec('host', ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), join(BIN_DIR, 'tscni'), ...args]);
  beforeAll(async () => {
    sb = await Sandbox.create('fwp');
    // A mixed bin dir: our plugins, and tuning from the reference (not ours yet).
    const bin = join(sb.dir, 'cni-bin');
    mkdirSync(bin);
    for (const p of ['bridge', 'host-local', 'portmap', 'firewall']) symlinkSync(join(BIN_DIR, p), join(bin, p));
    symlinkSync(join(REFERENCE_DIR, 'tuning'), join(bin, 'tuning'));
    mkdirSync(join(sb.dir, 'net.d'));
    writeFileSync(
      join(sb.dir, 'net.d', '87-podman.conflist'),
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
              ranges: [[{ subnet: '10.88.0.0/16', gateway: '10.88.0.1' }]],
              dataDir: join(sb.dir, 'leases'),
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
          { type: 'firewall', dataDir: join(sb.dir, 'fw') },
          { type: 'tuning' },
        ],
      }),
    );
    env = {
      NETCONFPATH: join(sb.dir, 'net.d'),
      CNI_PATH: bin,
      CNI_CACHE_DIR: join(sb.dir, 'cache'),
      CAP_ARGS: '{"portMappings":[{"hostPort":8081,"containerPort":80,"protocol":"tcp"}]}',
    };
    await sb.addContainer('p1');
  });
  afterAll(async () => sb.destroy());

  it('add, check and del run the whole chain and leave no container rule behind', async () => {
    const netns = `/run/netns/${sb.nsName('p1')}`;
    const add = await tscni('add', 'podman', netns);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect(JSON.stringify(add.json)).toContain('10.88.0.2/16');
    const rules = await filterRules(sb);
    expect(rules).toContain('-A CNI-FORWARD -s 10.88.0.2/32 -j ACCEPT');
    const check = await tscni('check', 'podman', netns);
    expect(check.stderr).toBe('');
    expect(check.code).toBe(0);
    expect((await tscni('del', 'podman', netns)).code).toBe(0);
    expect(await filterRules(sb)).not.toContain('10.88.0.2');
    const nat = (await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout;
    expect(nat).not.toMatch(/CNI-DN-|10\.88\.0\.2/);
    expect(readdirSync(join(sb.dir, 'fw', 'attachments'))).toEqual([]);
  });
});
