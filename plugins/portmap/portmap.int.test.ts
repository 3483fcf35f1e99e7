/** portmap (iptables backend) in a sandbox, chained after our bridge + host-local, with real traffic. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { fetchFrom as fetchFromNs, startServer, type TestServer } from '../../lib/testutil/traffic';
import { chainName } from '../../lib/firewall/names';
import { BIN_DIR, REFERENCE_DIR, Sandbox, runOk, type RunResult } from '../../lib/testutil/sandbox';

const PORTMAP = join(BIN_DIR, 'portmap');
let sb: Sandbox;
const servers: TestServer[] = [];

const bridgeConf = (): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'pmnet',
  type: 'bridge',
  bridge: 'pmbr0',
  isGateway: true,
  isDefaultGateway: true,
  hairpinMode: true,
  ipam: { type: 'host-local', subnet: '10.93.0.0/24', dataDir: join(sb.dir, 'ipam') },
});
const pmConf = (
  prevResult: unknown,
  portMappings?: unknown[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'pmnet',
  type: 'portmap',
  ...(portMappings ? { runtimeConfig: { portMappings } } : {}),
  ...(prevResult === undefined ? {} : { prevResult }),
  ...extra,
});

/** Attaches container `name` to the bridge (our bridge + host-local); returns the ADD result. */
async function attach(name: string): Promise<unknown> {
  await sb.addContainer(name);
  const r = await sb.runPlugin(
    join(BIN_DIR, 'bridge'),
    { command: 'ADD', containerId: `ctr-${name}`, netns: `/run/netns/${sb.nsName(name)}`, ifName: 'eth0' },
    bridgeConf(),
  );
  if (r.code !== 0) throw new Error(`bridge ADD failed: ${r.stdout}`);
  return r.json;
}
function portmap(command: string, name: string, config: unknown, exe = PORTMAP): Promise<RunResult> {
  return sb.runPlugin(
    exe,
    { command, containerId: `ctr-${name}`, netns: `/run/netns/${sb.nsName(name)}`, ifName: 'eth0' },
    config,
  );
}

/** A TCP (or UDP) server in a container that answers every request with `reply`. */
async function serve(container: string, port: number, reply: string, udp = false): Promise<void> {
  servers.push(await startServer(sb, container, port, reply, udp ? 'udp' : 'tcp'));
}
/** Connects from `where` ('host' or a namespace) and returns what the server said ('' on failure). */
const fetchFrom = (where: string, host: string, port: number, udp = false): Promise<string> =>
  fetchFromNs(sb, where, host, port, udp ? 'udp' : 'tcp');

let resultA: unknown;
beforeAll(async () => {
  sb = await Sandbox.create('pm');
  resultA = await attach('a');
  await attach('b');
  // An "outside" namespace connected to the sandbox host: 192.168.66.1 (host) ↔ 192.168.66.2.
  await sb.addContainer('out');
  await runOk([
    'ip',
    '-n',
    sb.hostNs,
    'link',
    'add',
    'out0',
    'type',
    'veth',
    'peer',
    'name',
    'out1',
    'netns',
    sb.nsName('out'),
  ]);
  await runOk(['ip', '-n', sb.hostNs, 'addr', 'add', '192.168.66.1/24', 'dev', 'out0']);
  await runOk(['ip', '-n', sb.hostNs, 'addr', 'add', '192.168.66.3/24', 'dev', 'out0']);
  await runOk(['ip', '-n', sb.hostNs, 'link', 'set', 'out0', 'up']);
  await runOk(['ip', '-n', sb.nsName('out'), 'addr', 'add', '192.168.66.2/24', 'dev', 'out1']);
  await runOk(['ip', '-n', sb.nsName('out'), 'link', 'set', 'out1', 'up']);
  await serve('a', 80, 'hello-from-a');
  await serve('a', 53, 'udp-from-a', true);
});
afterAll(async () => {
  for (const s of servers) s.stop();
  await sb.destroy();
});

describe('portmap ADD traffic', () => {
  it('passes prevResult through unchanged and installs the reference chains', async () => {
    const maps = [
      { HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp' },
      { hostPort: 9090, containerPort: 80, protocol: 'tcp', hostIP: '192.168.66.3' },
    ];
    const r = await portmap('ADD', 'a', pmConf(resultA, maps));
    expect(r.stdout).not.toContain('"code"');
    expect(r.json).toEqual(resultA);
    const save = (await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout;
    for (const c of ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ'])
      expect(save).toContain(`:${c} `);
    expect(save).toMatch(
      /-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"pmnet\\" id: \\"ctr-a\\"" -m multiport --dports 8080,9090 -j CNI-DN-[0-9a-f]{21}/,
    );
  });
  it('forwards from another namespace to hostIP:hostPort', async () => {
    expect(await fetchFrom('out', '192.168.66.1', 8080)).toBe('hello-from-a');
  });
  it('forwards from the sandbox host via localhost', async () => {
    expect(await fetchFrom('host', '127.0.0.1', 8080)).toBe('hello-from-a');
  });
  it('hairpins: the container reaches its own host port, and so does its neighbour', async () => {
    expect(await fetchFrom('a', '192.168.66.1', 8080)).toBe('hello-from-a');
    expect(await fetchFrom('b', '192.168.66.1', 8080)).toBe('hello-from-a');
  });
  it('forwards UDP', async () => {
    expect(await fetchFrom('out', '192.168.66.1', 5353, true)).toBe('udp-from-a');
  });
  it('a specific hostIP forwards only on that address', async () => {
    expect(await fetchFrom('out', '192.168.66.3', 9090)).toBe('hello-from-a');
    expect(await fetchFrom('out', '192.168.66.1', 9090)).toBe('');
  });
  it('CHECK passes while the rules are there', async () => {
    expect(
      (await portmap('CHECK', 'a', pmConf(resultA, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]))).code,
    ).toBe(0);
  });
  it('rejects a second container asking for the same host port', async () => {
    const resultB = await (async () =>
      (
        await sb.runPlugin(
          join(BIN_DIR, 'bridge'),
          {
            command: 'ADD',
            containerId: 'ctr-b2',
            netns: `/run/netns/${await sb.addContainer('b2').then(() => sb.nsName('b2'))}`,
            ifName: 'eth0',
          },
          bridgeConf(),
        )
      ).json)();
    const r = await sb.runPlugin(
      PORTMAP,
      { command: 'ADD', containerId: 'ctr-b2', netns: `/run/netns/${sb.nsName('b2')}`, ifName: 'eth0' },
      pmConf(resultB, [{ hostPort: 8080, containerPort: 80 }]),
    );
    expect(r.code).not.toBe(0);
    expect((r.json as { msg: string }).msg).toMatch(/already forwarded/);
    expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).not.toContain('ctr-b2');
  });
});

describe('portmap DEL, GC and bad input', () => {
  it('DEL without portMappings still removes the container’s rules, and is idempotent', async () => {
    expect((await portmap('DEL', 'a', pmConf(undefined))).code).toBe(0);
    expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).not.toContain('ctr-a');
    expect(await fetchFrom('out', '192.168.66.1', 8080)).toBe('');
    expect((await portmap('DEL', 'a', pmConf(undefined))).code).toBe(0);
  });
  it('DEL with prevResult and portMappings writes one iptables-restore and reads nothing; a mismatch takes the read path', async () => {
    const maps = [
      { hostPort: 8181, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5454, containerPort: 53, protocol: 'udp' },
    ];
    for (const [name, delMaps] of [
      ['d1', maps],
      // Other ports than ADD's: the unread restore fails as a whole, the read finds the rules.
      ['d2', [{ hostPort: 8282, containerPort: 80, protocol: 'tcp' }]],
    ] as const) {
      const prev = await attach(name);
      expect((await portmap('ADD', name, pmConf(prev, maps))).code).toBe(0);
      expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).toContain(`ctr-${name}`);
      const del = await sb.runPlugin(
        PORTMAP,
        {
          command: 'DEL',
          containerId: `ctr-${name}`,
          netns: `/run/netns/${sb.nsName(name)}`,
          ifName: 'eth0',
          env: { TSCNI_DEBUG: '1' },
        },
        pmConf(prev, [...delMaps]),
      );
      expect(del.code).toBe(0);
      expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).not.toContain(`ctr-${name}`);
      // The debug log names every program a verb starts (lib/exec/real.ts).
      const execs = [...del.stderr.matchAll(/exec \d+ ms: (\S+)/g)].map((m) => m[1]?.split('/').pop());
      const firewall = execs.filter((t) => /tables|nft/.test(t ?? ''));
      if (name === 'd1') expect(firewall).toEqual(['iptables-restore']);
      else expect(firewall.filter((t) => t === 'iptables-restore')).toHaveLength(2);
      expect(firewall.filter((t) => t?.startsWith('ip6tables') || t === 'nft')).toEqual([]);
    }
  });
  it('DEL also removes a legacy CNI-SN chain left by old releases, with its jump', async () => {
    const legacy = chainName('pmnet', 'ctr-legacy', 'SN-');
    await sb.exec('host', ['iptables-restore', '--noflush'], {
      input: `*nat\n:CNI-HOSTPORT-SNAT - [0:0]\n:${legacy} - [0:0]\n-A CNI-HOSTPORT-SNAT -j ${legacy}\n-A ${legacy} -j MASQUERADE\nCOMMIT\n`,
    });
    expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).toContain(legacy);
    expect(
      (
        await sb.runPlugin(
          PORTMAP,
          { command: 'DEL', containerId: 'ctr-legacy', netns: '', ifName: 'eth0' },
          pmConf(undefined),
        )
      ).code,
    ).toBe(0);
    expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).not.toContain(legacy);
  });

  it('GC removes forwarding of attachments that are not valid', async () => {
    expect((await portmap('ADD', 'a', pmConf(resultA, [{ hostPort: 8081, containerPort: 80 }]))).code).toBe(0);
    const gc = await sb.runPlugin(
      PORTMAP,
      { command: 'GC' },
      {
        ...pmConf(undefined),
        cniVersion: '1.1.0',
        'cni.dev/valid-attachments': [{ containerID: 'ctr-b', ifname: 'eth0' }],
      },
    );
    expect(gc.code).toBe(0);
    expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).not.toContain('ctr-a');
  });
  it.each([
    [[{ hostPort: 0, containerPort: 80 }], /Invalid host port/],
    [[{ hostPort: 70000, containerPort: 80 }], /Invalid host port/],
    [[{ hostPort: 80, containerPort: -1 }], /Invalid container port/],
    [[{ hostPort: 80, containerPort: 80, protocol: 'icmp' }], /Invalid protocol/],
    [[{ hostPort: 80, containerPort: 80, hostIP: 'nope' }], /Invalid host IP/],
  ])('rejects %j and installs nothing', async (maps, msg) => {
    const r = await portmap('ADD', 'b', pmConf(resultA, maps));
    expect(r.json).toMatchObject({ code: 7 });
    expect((r.json as { msg: string }).msg).toMatch(msg);
    expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).not.toContain('ctr-b"');
  });
  it('rejects markMasqBit out of range, with externalSetMarkChain, and a missing prevResult', async () => {
    const maps = [{ hostPort: 80, containerPort: 80 }];
    expect(
      ((await portmap('ADD', 'b', pmConf(resultA, maps, { markMasqBit: 32 }))).json as { msg: string }).msg,
    ).toMatch(/between 0 and 31/);
    expect(
      (
        (await portmap('ADD', 'b', pmConf(resultA, maps, { markMasqBit: 3, externalSetMarkChain: 'KUBE-MARK-MASQ' })))
          .json as { msg: string }
      ).msg,
    ).toMatch(/Cannot specify/);
    expect(((await portmap('ADD', 'b', pmConf(undefined, maps))).json as { msg: string }).msg).toMatch(
      /chained plugin/,
    );
    expect((await portmap('ADD', 'b', pmConf({ cniVersion: '1.0.0', ips: 'x' }, maps))).code).not.toBe(0);
  });
});

describe('differential: reference portmap', () => {
  it('uses the same DN chain name and entry comment', async () => {
    const maps = [{ hostPort: 7070, containerPort: 80, protocol: 'tcp' }];
    const ours = await portmap('ADD', 'b', pmConf(resultA, maps));
    expect(ours.code).toBe(0);
    const s1 = (await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout;
    await portmap('DEL', 'b', pmConf(undefined));
    const theirs = await portmap('ADD', 'b', pmConf(resultA, maps), join(REFERENCE_DIR, 'portmap'));
    expect(theirs.code).toBe(0);
    const s2 = (await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout;
    const entry = (s: string): string | undefined =>
      s.split('\n').find((l) => l.startsWith('-A CNI-HOSTPORT-DNAT') && l.includes('ctr-b'));
    expect(entry(s1)).toBeDefined();
    expect(entry(s1)).toBe(entry(s2));
    // Our DEL removes what the reference installed.
    expect((await portmap('DEL', 'b', pmConf(undefined))).code).toBe(0);
    expect((await sb.exec('host', ['iptables-save', '-t', 'nat'])).stdout).not.toContain('ctr-b"');
  });
});

describe('nftables backend', () => {
  const nft = { backend: 'nftables' };
  let resultN: unknown;
  beforeAll(async () => {
    resultN = await attach('n');
    await serve('n', 81, 'hello-from-n');
    await serve('n', 54, 'udp-from-n', true);
  });
  const ruleCount = async (): Promise<number> =>
    (
      (await sb.exec('host', ['nft', '-a', 'list', 'table', 'inet', 'tscni_hostport'])).stdout.match(/# handle \d+/g) ??
      []
    ).length;

  it('forwards from outside, localhost, hairpin (own and neighbour), UDP and a specific hostIP', async () => {
    const maps = [
      { hostPort: 8181, containerPort: 81, protocol: 'tcp' },
      { hostPort: 5454, containerPort: 54, protocol: 'udp' },
      { hostPort: 9191, containerPort: 81, protocol: 'tcp', hostIP: '192.168.66.3' },
    ];
    const r = await portmap('ADD', 'n', pmConf(resultN, maps, nft));
    expect(r.stdout).not.toContain('"code"');
    expect(r.json).toEqual(resultN);
    expect(await fetchFrom('out', '192.168.66.1', 8181)).toBe('hello-from-n');
    expect(await fetchFrom('host', '127.0.0.1', 8181)).toBe('hello-from-n');
    expect(await fetchFrom('n', '192.168.66.1', 8181)).toBe('hello-from-n');
    expect(await fetchFrom('b', '192.168.66.1', 8181)).toBe('hello-from-n');
    expect(await fetchFrom('out', '192.168.66.1', 5454, true)).toBe('udp-from-n');
    expect(await fetchFrom('out', '192.168.66.3', 9191)).toBe('hello-from-n');
    expect(await fetchFrom('out', '192.168.66.1', 9191)).toBe('');
    expect((await portmap('CHECK', 'n', pmConf(resultN, maps, nft))).code).toBe(0);
  });

  it('keeps a constant rule count: another container adds elements, not rules', async () => {
    const before = await ruleCount();
    const fake = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', sandbox: '/x' }],
      ips: [{ interface: 0, address: '10.93.0.200/24' }],
    };
    for (let i = 0; i < 3; i++) {
      const r = await sb.runPlugin(
        PORTMAP,
        { command: 'ADD', containerId: `fake-${i}`, netns: '/x', ifName: 'eth0' },
        pmConf(fake, [{ hostPort: 20000 + i, containerPort: 80 }], nft),
      );
      expect(r.code).toBe(0);
    }
    expect(await ruleCount()).toBe(before);
    const elems = (await sb.exec('host', ['nft', 'list', 'map', 'inet', 'tscni_hostport', 'anyports4'])).stdout;
    expect(elems).toContain('20002');
  });

  it('rejects a conflicting host port, and iptables-only options', async () => {
    const fake = { cniVersion: '1.0.0', ips: [{ address: '10.93.0.201/24' }] };
    const r = await sb.runPlugin(
      PORTMAP,
      { command: 'ADD', containerId: 'clash', netns: '/x', ifName: 'eth0' },
      pmConf(fake, [{ hostPort: 8181, containerPort: 80 }], nft),
    );
    expect((r.json as { msg: string }).msg).toMatch(/already forwarded/);
    const bad = await portmap(
      'ADD',
      'n',
      pmConf(resultN, [{ hostPort: 1, containerPort: 1 }], { ...nft, markMasqBit: 5 }),
    );
    expect((bad.json as { code: number }).code).toBe(7);
  });

  it('DEL without portMappings removes only this container’s elements; GC removes stale ones', async () => {
    expect((await portmap('DEL', 'n', pmConf(undefined, undefined, nft))).code).toBe(0);
    expect(await fetchFrom('out', '192.168.66.1', 8181)).toBe('');
    const list = (await sb.exec('host', ['nft', 'list', 'table', 'inet', 'tscni_hostport'])).stdout;
    expect(list).not.toContain('c=ctr-n;');
    expect(list).toContain('c=fake-0;');
    const gc = await sb.runPlugin(
      PORTMAP,
      { command: 'GC' },
      {
        ...pmConf(undefined, undefined, nft),
        cniVersion: '1.1.0',
        'cni.dev/valid-attachments': [{ containerID: 'fake-1', ifname: 'eth0' }],
      },
    );
    expect(gc.code).toBe(0);
    const after = (await sb.exec('host', ['nft', 'list', 'table', 'inet', 'tscni_hostport'])).stdout;
    expect(after).not.toContain('c=fake-0;');
    expect(after).toContain('c=fake-1;');
  });
});

describe.each(['iptables', 'nftables'])('IPv6 forwarding (%s)', (backend) => {
  const tag = backend === 'iptables' ? '6i' : '6n';
  const port = backend === 'iptables' ? 8686 : 8787;
  let result: unknown;
  beforeAll(async () => {
    await sb.addContainer(tag);
    const conf = {
      ...bridgeConf(),
      bridge: `pm${tag}`,
      ipam: {
        type: 'host-local',
        dataDir: join(sb.dir, 'ipam'),
        ranges: [
          [{ subnet: `10.${backend === 'iptables' ? 86 : 87}.0.0/24` }],
          [{ subnet: `fd00:${tag === '6i' ? 86 : 87}::/64` }],
        ],
      },
    };
    const r = await sb.runPlugin(
      join(BIN_DIR, 'bridge'),
      { command: 'ADD', containerId: `ctr-${tag}`, netns: `/run/netns/${sb.nsName(tag)}`, ifName: 'eth0' },
      conf,
    );
    if (r.code !== 0) throw new Error(r.stdout);
    result = r.json;
    // The outside machine gets an IPv6 address next to the sandbox host's (no DAD wait).
    await sb.exec('host', ['ip', 'addr', 'replace', 'fd00:66::1/64', 'dev', 'out0', 'nodad']);
    await sb.exec('out', ['ip', 'addr', 'replace', 'fd00:66::2/64', 'dev', 'out1', 'nodad']);
    servers.push(await startServer(sb, tag, 80, `v6-from-${tag}`));
    // Wait for the gateway's IPv6 address on the new bridge to leave DAD.
    for (let i = 0; i < 40; i++) {
      if (!(await sb.exec('host', ['ip', '-6', 'addr', 'show', 'dev', `pm${tag}`, 'tentative'])).stdout.trim()) break;
      await new Promise((res) => setTimeout(res, 100));
    }
  });

  it('forwards [hostIP]:hostPort from outside and hairpins the container to itself', async () => {
    const r = await portmap(
      'ADD',
      tag,
      pmConf(result, [{ hostPort: port, containerPort: 80, protocol: 'tcp' }], { backend }),
    );
    expect(r.stdout).not.toContain('"code"');
    expect(await fetchFrom('out', 'fd00:66::1', port)).toBe(`v6-from-${tag}`);
    expect(await fetchFrom(tag, 'fd00:66::1', port)).toBe(`v6-from-${tag}`);
    expect(
      (
        await portmap(
          'CHECK',
          tag,
          pmConf(result, [{ hostPort: port, containerPort: 80, protocol: 'tcp' }], { backend }),
        )
      ).code,
    ).toBe(0);
    expect((await portmap('DEL', tag, pmConf(undefined, undefined, { backend }))).code).toBe(0);
    expect(await fetchFrom('out', 'fd00:66::1', port)).toBe('');
  });
});
