/**
 * Docker's user-defined networks on tscni, with real traffic, on both firewall backends: names
 * (dnsname) within a network and never across, aliases, PTR, forwarding to an upstream resolver,
 * a killed resolver noticed and restarted; `ingressPolicy: isolated` (icc=false); an internal
 * network (the conflist podman writes for `network create --internal`).
 *
 * The sandbox: a host namespace with the networks' bridges, container namespaces, and an
 * "outside" namespace behind an uplink that holds a fake upstream resolver and a server. Every
 * chain runs through `tscni add/check/del` inside private mount and PID namespaces (a helper made
 * with unshare), so the dnsmasq instances dnsname starts live there, see a resolv.conf of the
 * test, keep their state in the sandbox's directory, and die with the helper.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dig as digFrom, Querier, resolves as resolvesFrom, type Answer } from '../../lib/testutil/dns-client';
import { PluginSpace } from '../../lib/testutil/plugin-space';
import { requireProgram } from '../../lib/testutil/programs';
import { BIN_DIR, REPO_ROOT, Sandbox, run, runOk, type RunResult } from '../../lib/testutil/sandbox';
import { fetchFrom, startServer, type TestServer } from '../../lib/testutil/traffic';

const TSCNI = join(BIN_DIR, 'tscni');
const OUTSIDE = { host: '198.51.100.2', far: '198.51.100.1' };
const UPSTREAM_ANSWER = '192.0.2.7';
const TIMEOUT_MS = 180_000;

// The fake upstream resolver: example.test is ${UPSTREAM_ANSWER}, everything else NXDOMAIN.
const UPSTREAM = `
const packet = require(${JSON.stringify(join(REPO_ROOT, 'node_modules/dns-packet'))});
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => {
  const q = packet.decode(m); const name = q.questions[0].name;
  const hit = name === 'example.test' && q.questions[0].type === 'A';
  s.send(packet.encode({ type: 'response', id: q.id, flags: packet.RECURSION_AVAILABLE | (hit ? 0 : 3), questions: q.questions,
    answers: hit ? [{ type: 'A', name, ttl: 5, data: '${UPSTREAM_ANSWER}' }] : [] }), r.port, r.address);
});
s.bind(53, () => console.log('listening'));`;

interface Net {
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  internal?: boolean;
  policy?: string;
}

function conflist(sb: Sandbox, n: Net, backend: string): unknown {
  const bridge = n.internal
    ? { type: 'bridge', bridge: n.bridge, isGateway: false, ipMasq: false, hairpinMode: true }
    : { type: 'bridge', bridge: n.bridge, isGateway: true, ipMasq: true, hairpinMode: true, ipMasqBackend: backend };
  return {
    cniVersion: '0.4.0',
    name: n.name,
    plugins: [
      {
        ...bridge,
        ipam: {
          type: 'host-local',
          dataDir: join(sb.dir, 'ipam'),
          ranges: [[{ subnet: n.subnet, gateway: n.gateway }]],
          ...(n.internal ? {} : { routes: [{ dst: '0.0.0.0/0' }] }),
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, backend },
      { type: 'firewall', backend, ...(n.policy ? { ingressPolicy: n.policy } : {}), dataDir: join(sb.dir, 'fw') },
      { type: 'tuning' },
      { type: 'dnsname', domainName: 'dns.podman', capabilities: { aliases: true } },
    ],
  };
}

describe.each(['iptables', 'nftables'])('Docker-style networks, firewall backend %s', (backend) => {
  let sb: Sandbox;
  let space: PluginSpace;
  let upstream: TestServer | undefined;
  const servers: TestServer[] = [];
  const tag = backend === 'iptables' ? 'i' : 'n';
  const A: Net = { name: 'neta', bridge: `dna${tag}0`, subnet: '10.94.1.0/24', gateway: '10.94.1.1' };
  const B: Net = { name: 'netb', bridge: `dnb${tag}0`, subnet: '10.94.2.0/24', gateway: '10.94.2.1' };
  const C: Net = {
    name: 'netc',
    bridge: `dnc${tag}0`,
    subnet: '10.94.3.0/24',
    gateway: '10.94.3.1',
    policy: 'isolated',
  };
  const I: Net = { name: 'neti', bridge: `dni${tag}0`, subnet: '10.94.4.0/24', gateway: '10.94.4.1', internal: true };
  const ips: Record<string, string> = {};

  const chain = async (
    verb: 'add' | 'check' | 'del',
    net: Net,
    ctr: string,
    opts: { aliases?: string[]; ports?: unknown[] } = {},
  ): Promise<RunResult> => {
    const caps: Record<string, unknown> = {};
    if (opts.aliases) caps['aliases'] = { [net.name]: opts.aliases };
    if (opts.ports) caps['portMappings'] = opts.ports;
    return run(space.enter(['ip', 'netns', 'exec', sb.hostNs, TSCNI, verb, net.name, `/run/netns/${sb.nsName(ctr)}`]), {
      env: {
        PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
        NETCONFPATH: join(sb.dir, 'conf'),
        CNI_PATH: BIN_DIR,
        CNI_CACHE_DIR: join(sb.dir, 'cache'),
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=${ctr}`,
        CAP_ARGS: JSON.stringify(caps),
        XDG_RUNTIME_DIR: join(sb.dir, 'xdg'),
        TSCNI_STATE_DIR: join(sb.dir, 'tscni-state'),
        TSCNI_RUN_DIR: join(sb.dir, 'run'),
      },
    });
  };
  const ok = (r: RunResult): RunResult => {
    if (r.code !== 0) throw new Error(`tscni failed (${r.code}): ${r.stdout}${r.stderr}`);
    return r;
  };
  const addCtr = async (net: Net, ctr: string, opts: { aliases?: string[]; ports?: unknown[] } = {}): Promise<void> => {
    const r = ok(await chain('add', net, ctr, opts));
    const res = r.json as { ips: Array<{ address: string }>; dns?: { nameservers?: string[]; search?: string[] } };
    ips[ctr] = (res.ips[0]?.address ?? '').split('/')[0] ?? '';
    expect(res.dns?.nameservers?.[0]).toBe(net.gateway);
    expect(res.dns?.search).toContain('dns.podman');
  };
  const dig = (ctr: string, server: string, name: string, type = 'A'): Promise<Answer | 'timeout'> =>
    digFrom(sb, ctr, server, name, type);
  const resolves = (ctr: string, server: string, name: string, type = 'A'): Promise<string[]> =>
    resolvesFrom(sb, ctr, server, name, type);
  const dnsDir = (net: Net): string => join(sb.dir, 'xdg', 'containers/cni/dnsname', net.name);
  const resolverPid = (net: Net): string => readFileSync(join(dnsDir(net), 'pidfile'), 'utf8').trim();

  beforeAll(async () => {
    requireProgram('dnsmasq');
    sb = await Sandbox.create(`dn${tag}`);
    for (const c of ['a1', 'a2', 'a3', 'aq', 'b1', 'b2', 'c1', 'c2', 'i1', 'i2', 'out']) await sb.addContainer(c);
    const h = sb.hostNs;
    const out = sb.nsName('out');
    await runOk(['ip', '-n', h, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'wan0', 'netns', out]);
    await runOk(['ip', '-n', h, 'addr', 'add', `${OUTSIDE.host}/24`, 'dev', 'up0']);
    await runOk(['ip', '-n', h, 'link', 'set', 'up0', 'up']);
    await runOk(['ip', '-n', out, 'addr', 'add', `${OUTSIDE.far}/24`, 'dev', 'wan0']);
    await runOk(['ip', '-n', out, 'link', 'set', 'wan0', 'up']);
    await runOk(['ip', '-n', h, 'route', 'add', 'default', 'via', OUTSIDE.far]);
    // The outside knows the way back to every container subnet (only the firewall stops it).
    await runOk(['ip', '-n', out, 'route', 'add', '10.94.0.0/16', 'via', OUTSIDE.host]);
    upstream = await startServerScript(sb, 'out', UPSTREAM);
    servers.push(await startServer(sb, 'out', 8000, 'outside'));
    // The host's resolv.conf: a loopback stub first (skipped), then the upstream.
    const resolv = join(sb.dir, 'resolv.conf');
    writeFileSync(resolv, `nameserver 127.0.0.53\nnameserver ${OUTSIDE.far}\noptions edns0\n`);
    mkdirSync(join(sb.dir, 'conf'));
    for (const n of [A, B, C, I])
      writeFileSync(join(sb.dir, 'conf', `${n.name}.conflist`), JSON.stringify(conflist(sb, n, backend)));
    space = await PluginSpace.create();
    await runOk(space.enter(['mount', '--bind', resolv, '/etc/resolv.conf']));
  }, 60_000);

  afterAll(async () => {
    upstream?.stop();
    for (const s of servers) s.stop();
    await space?.destroy();
    await sb?.destroy();
  }, TIMEOUT_MS);

  it(
    'names and aliases resolve within a network, bare and under the domain, never across; PTR; forwarding',
    async () => {
      await addCtr(A, 'a1', { aliases: ['pool'] });
      await addCtr(A, 'a2', { aliases: ['db', 'cache', 'pool'] });
      await addCtr(B, 'b1');
      await addCtr(B, 'b2');
      const [a1, a2, b2] = [ips['a1'] ?? '', ips['a2'] ?? '', ips['b2'] ?? ''];
      for (const name of ['a2', 'a2.dns.podman', 'db', 'cache.dns.podman'])
        expect(await resolves('a1', A.gateway, name)).toEqual([a2]);
      // An alias two containers share answers with both (Docker's DNS round robin, compose's scale).
      expect((await resolves('a2', A.gateway, 'pool.dns.podman')).sort()).toEqual([a1, a2].sort());
      expect(await resolves('b1', B.gateway, 'b2')).toEqual([b2]);
      // Across: B's resolver does not know A's names; A's resolver does not answer B's containers.
      expect(await resolves('b1', B.gateway, 'a2')).toEqual([]);
      expect(await resolves('b1', B.gateway, 'a2.dns.podman')).toEqual([]);
      expect(await dig('b1', A.gateway, 'a2')).toBe('timeout');
      // PTR: the address's name under the domain.
      const ptr = await dig('a1', A.gateway, `${a2.split('.').reverse().join('.')}.in-addr.arpa`, 'PTR');
      expect(ptr !== 'timeout' && ptr.data).toContain('a2.dns.podman');
      // Everything else goes to the host's resolver (the loopback stub skipped).
      expect(await resolves('a1', A.gateway, 'example.test')).toEqual([UPSTREAM_ANSWER]);
      const files = readFileSync(join(dnsDir(A), 'tscni-resolv.conf'), 'utf8');
      expect(files).toBe(`nameserver ${OUTSIDE.far}\n`);
    },
    TIMEOUT_MS,
  );

  it(
    'a killed resolver is noticed by CHECK and started again; ADD restarts it too',
    async () => {
      ok(await chain('check', A, 'a1'));
      await runOk(space.enter(['kill', '-KILL', resolverPid(A)]));
      await waitFor(async () => (await dig('a1', A.gateway, 'a2')) === 'timeout');
      const check = await chain('check', A, 'a1');
      expect(check.code).not.toBe(0);
      expect(check.stdout + check.stderr).toContain('dnsmasq instance not running');
      expect(await resolves('a1', A.gateway, 'a2')).toEqual([ips['a2']]);
      ok(await chain('check', A, 'a1'));
      await runOk(space.enter(['kill', '-KILL', resolverPid(B)]));
      await waitFor(async () => (await dig('b1', B.gateway, 'b2')) === 'timeout');
      ok(await chain('del', B, 'b1'));
      await addCtr(B, 'b1');
      expect(await resolves('b1', B.gateway, 'b2')).toEqual([ips['b2']]);
    },
    TIMEOUT_MS,
  );

  it(
    'a name resolves the moment ADD returns and is gone the moment DEL returns (asked by a client already running)',
    async () => {
      await addCtr(A, 'aq');
      const q = await Querier.start(sb, 'aq');
      try {
        for (let round = 0; round < 4; round++) {
          await addCtr(A, 'a3', { aliases: ['svc'] });
          expect(await q.ask(A.gateway, 'a3')).toEqual({ rcode: 'NOERROR', data: [ips['a3']] });
          expect(await q.ask(A.gateway, 'svc.dns.podman')).toEqual({ rcode: 'NOERROR', data: [ips['a3']] });
          ok(await chain('del', A, 'a3'));
          expect(await q.ask(A.gateway, 'a3')).toMatchObject({ data: [] });
          expect(await q.ask(A.gateway, 'svc.dns.podman')).toMatchObject({ data: [] });
        }
      } finally {
        q.stop();
      }
      ok(await chain('del', A, 'aq'));
    },
    TIMEOUT_MS,
  );

  it(
    'a name is gone when DEL returns; the last DEL stops the resolver and leaves nothing',
    async () => {
      ok(await chain('del', A, 'a2'));
      expect(await resolves('a1', A.gateway, 'db')).toEqual([]);
      expect(await resolves('a1', A.gateway, 'pool')).toEqual([ips['a1']]);
      expect(await resolves('a1', A.gateway, 'a2')).toEqual([]);
      const pid = resolverPid(A);
      ok(await chain('del', A, 'a1'));
      expect(existsSync(dnsDir(A))).toBe(false);
      // Gone (or a zombie: PID 1 of the helper namespace does not reap), not running dnsmasq any more.
      expect((await run(space.enter(['cat', `/proc/${pid}/cmdline`]))).stdout).not.toContain('dnsmasq');
      for (const c of ['b1', 'b2']) ok(await chain('del', B, c));
      expect(existsSync(dnsDir(B))).toBe(false);
    },
    TIMEOUT_MS,
  );

  it(
    'ingressPolicy isolated: containers of the network cannot reach each other, the outside and published ports work',
    async () => {
      await addCtr(C, 'c1');
      await addCtr(C, 'c2', { ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
      servers.push(await startServer(sb, 'c2', 80, 'c2-web'));
      expect(await fetchFrom(sb, 'c1', ips['c2'] ?? '', 80)).toBe('');
      expect(await fetchFrom(sb, 'c1', OUTSIDE.far, 8000)).toBe('outside');
      expect(await fetchFrom(sb, 'out', OUTSIDE.host, 8080)).toBe('c2-web');
      expect(await fetchFrom(sb, 'host', ips['c2'] ?? '', 80)).toBe('c2-web');
      // The names still resolve: the resolver is on the host, not another container.
      expect(await resolves('c1', C.gateway, 'c2')).toEqual([ips['c2']]);
      for (const c of ['c1', 'c2']) ok(await chain('del', C, c));
    },
    TIMEOUT_MS,
  );

  it(
    'internal network: containers reach each other by name, nothing outside, nothing from outside',
    async () => {
      await addCtr(A, 'a1');
      await addCtr(I, 'i1');
      await addCtr(I, 'i2', { ports: [{ hostPort: 8081, containerPort: 80, protocol: 'tcp' }] });
      servers.push(await startServer(sb, 'i2', 80, 'i2-web'));
      servers.push(await startServer(sb, 'a1', 80, 'a1-web'));
      expect(await resolves('i1', I.gateway, 'i2.dns.podman')).toEqual([ips['i2']]);
      expect(await fetchFrom(sb, 'i1', ips['i2'] ?? '', 80)).toBe('i2-web');
      // Out: the outside and another network, also with a route the container adds itself.
      await runOk(['ip', '-n', sb.nsName('i1'), 'route', 'add', 'default', 'via', I.gateway]);
      expect(await fetchFrom(sb, 'i1', OUTSIDE.far, 8000)).toBe('');
      expect(await fetchFrom(sb, 'i1', ips['a1'] ?? '', 80)).toBe('');
      // No forwarding of other names either.
      expect(await resolves('i1', I.gateway, 'example.test')).toEqual([]);
      // In: from the outside (it has a route), through the published port, from another network.
      expect(await fetchFrom(sb, 'out', ips['i2'] ?? '', 80)).toBe('');
      expect(await fetchFrom(sb, 'out', OUTSIDE.host, 8081)).toBe('');
      expect(await fetchFrom(sb, 'a1', ips['i2'] ?? '', 80)).toBe('');
      ok(await chain('check', I, 'i1'));
      for (const c of ['i1', 'i2']) ok(await chain('del', I, c));
      ok(await chain('del', A, 'a1'));
      // The resolver's address on the internal bridge went with the resolver.
      const addrs = (await sb.exec('host', ['ip', '-j', 'addr', 'show', 'dev', I.bridge])).stdout;
      expect(addrs).not.toContain(I.gateway);
    },
    TIMEOUT_MS,
  );
});

async function waitFor(probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A Node.js script in a namespace of the sandbox that prints "listening" once ready. */
async function startServerScript(sb: Sandbox, where: string, script: string): Promise<TestServer> {
  const child = spawn('ip', ['netns', 'exec', sb.nsName(where), process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('upstream did not start')), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (String(d).includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { stop: () => void child.kill('SIGKILL') };
}
