/**
 * podman 4.3 with its CNI backend and /opt/cni/bin (examples/e2e/containers.conf):
 * - `podman run -p` on the default network "podman", our examples/e2e/podman.conflist;
 * - `podman network create` of a dual-stack network, then a container with a host port, `--ip`
 *   and `--mac-address` on it, whose conflist podman wrote itself (bridge, portmap, firewall,
 *   tuning, dnsname; podman writes cniVersion 0.4.0, the 1.0.0 run rewrites that one key), restarted
 *   once and its network reloaded once.
 * - names on user-defined networks (dnsname, which podman adds to the networks it creates):
 *   names and aliases, resolv.conf, rm; an internal network; podman-compose projects.
 * Podman probes VERSION of every plugin of every network before each command.
 */
import { describe, expect, it } from '@jest/globals';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkInside,
  directUrl,
  expectHttpToken,
  fetchScript,
  hostPortUrls,
  httpServerScript,
  InContainer,
  leftovers,
  newToken,
} from './harness/checks';
import { buildBusyboxImage, IMAGE_REF } from './harness/image';
import { RuntimeSandbox, UPLINK } from './harness/sandbox';
import {
  CNI_VERSIONS,
  JEST_TIMEOUT_MS,
  conflist,
  EXAMPLES_DIR,
  expectAllCallsOk,
  expectVersion,
  scenario,
  Steps,
} from './harness/scenario';
import { callsOf, resultIp, TraceEntry } from './harness/trace';
import { requireProgram } from '../lib/testutil/programs';

const CONFIG_FILES = ['containers.conf', 'storage.conf', 'policy.json', 'registries.conf'];

async function setupPodman(sb: RuntimeSandbox, version: string): Promise<(args: string[]) => Promise<string>> {
  for (const f of CONFIG_FILES)
    writeFileSync(join(sb.hostPath('/etc/containers'), f), readFileSync(join(EXAMPLES_DIR, f)));
  writeFileSync(join(sb.hostPath('/etc/cni/net.d'), '87-podman.conflist'), conflist('podman.conflist', version));
  requireProgram('podman');
  const podman = async (args: string[]): Promise<string> =>
    (await sb.execOk(['podman', ...args], { timeoutMs: 120_000 })).stdout;
  await podman(['load', '-q', '-i', await buildBusyboxImage(join(sb.dir, 'image'))]);
  return podman;
}

interface Run {
  name: string;
  network?: string;
  hostPort: number;
  gateway: string;
  subnetPrefix: string;
  /** A dual-stack network: the IPv6 gateway and prefix the container's address must have. */
  gateway6?: string;
  subnet6Prefix?: string;
  /** `--ip` and `--mac-address` (podman 4.3's CNI backend sends them as CNI_ARGS IP= and MAC=). */
  staticIp?: string;
  staticMac?: string;
  /**
   * What to do to the running container before its removal, each a DEL and an ADD again for the
   * same container and address: `restart` (new netns), `podman network reload` (same netns).
   */
  again?: ('restart' | 'reload')[];
}

const inspect = async (podman: (args: string[]) => Promise<string>, name: string, field: string): Promise<string> =>
  (await podman(['inspect', '-f', `{{range .NetworkSettings.Networks}}{{.${field}}}{{end}}`, name])).trim();

/** Runs one container with a host port, checks it from inside and through the port, removes it; returns its calls. */
async function runContainer(
  sb: RuntimeSandbox,
  podman: (args: string[]) => Promise<string>,
  r: Run,
  steps: Steps,
): Promise<TraceEntry[]> {
  const before = sb.trace().length;
  const token = newToken();
  const net = r.network ? ['--network', r.network] : [];
  if (r.staticIp) net.push('--ip', r.staticIp);
  if (r.staticMac) net.push('--mac-address', r.staticMac);
  const run = [
    ...['run', '-d', '--name', r.name, ...net, '-p', `${r.hostPort}:80`, '--cgroup-parent', sb.cgroupParent],
    // Debian's podman leaves NET_RAW out of the default capabilities; busybox ping needs it.
    ...['--cap-add', 'NET_RAW', IMAGE_REF, 'sh', '-c', httpServerScript(token)],
  ];
  const id = (await podman(run)).trim();
  steps.mark(`${r.name} run`);
  const ip = await inspect(podman, r.name, 'IPAddress');
  expect(ip.startsWith(r.subnetPrefix)).toBe(true);
  if (r.staticIp) expect(ip).toBe(r.staticIp);
  // Only IPv4 is pinned (--ip): host-local gives the container the next free IPv6 address after each DEL/ADD.
  const v6 = async (): Promise<string> => {
    if (!r.subnet6Prefix) return '';
    const a = await inspect(podman, r.name, 'GlobalIPv6Address');
    expect(a.startsWith(r.subnet6Prefix)).toBe(true);
    return a;
  };
  let ip6 = await v6();
  const ip6s = [ip6];
  const inside: InContainer = (argv) => sb.exec(['podman', 'exec', r.name, ...argv]);
  if (r.staticMac) {
    expect((await inside(['ip', 'link', 'show', 'eth0'])).stdout).toContain(`link/ether ${r.staticMac} `);
  }
  const check = async (): Promise<void> => {
    await checkInside(inside, ip, r.gateway);
    if (ip6 && r.gateway6) await checkInside(inside, ip6, r.gateway6);
    const urls = [...hostPortUrls(r.hostPort, !!ip6), directUrl(ip), ...(ip6 ? [directUrl(ip6)] : [])];
    for (const url of urls) await expectHttpToken(sb, url, token);
  };
  await check();
  steps.mark(`${r.name} traffic`);
  for (const what of r.again ?? []) {
    await podman(what === 'restart' ? ['restart', '-t', '0', r.name] : ['network', 'reload', r.name]);
    expect(await inspect(podman, r.name, 'IPAddress')).toBe(ip);
    ip6 = await v6();
    ip6s.push(ip6);
    await check();
    steps.mark(`${r.name} ${what}`);
  }
  // httpd as PID 1 ignores SIGTERM: -t 0 kills at once instead of waiting 10 s.
  await podman(['rm', '-f', '-t', '0', r.name]);
  steps.mark(`${r.name} rm`);
  const calls = sb.trace().slice(before);
  expect(await leftovers(sb, { containerIds: [id], ips: [ip, ...ip6s].filter(Boolean) })).toEqual([]);
  return calls;
}

const verbs = (calls: readonly TraceEntry[]): string[] =>
  calls.filter((e) => e.command !== 'VERSION').map((e) => `${e.plugin} ${e.command}`);

describe('podman (CNI backend)', () => {
  it.each(CNI_VERSIONS)(
    'cniVersion %s: run -p; dual-stack network create, run --ip --mac-address -p on it, restart, network reload; run --rm that exits',
    async (version) => {
      await scenario(`podman-${version}`, async (sb, steps) => {
        const podman = await setupPodman(sb, version);
        steps.mark('podman load');

        const first = await runContainer(
          sb,
          podman,
          { name: 'web', hostPort: 8080, gateway: '10.88.3.1', subnetPrefix: '10.88.3.' },
          steps,
        );
        expect(verbs(first)).toEqual(['bridge ADD', 'portmap ADD', 'portmap DEL', 'bridge DEL']);

        await podman([
          'network',
          'create',
          '--ipv6',
          '--subnet',
          '10.88.5.0/24',
          '--subnet',
          'fd00:88:5::/64',
          'e2enet',
        ]);
        const written = join(sb.hostPath('/etc/cni/net.d'), 'e2enet.conflist');
        const own = JSON.parse(readFileSync(written, 'utf8')) as { cniVersion: string; plugins: { type: string }[] };
        // dnsname too: podman adds it where a dnsname plugin is in its plugin directory (ours is).
        expect(own.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'firewall', 'tuning', 'dnsname']);
        writeFileSync(written, JSON.stringify({ ...own, cniVersion: version }, null, 3));
        steps.mark('network create');

        const second = await runContainer(
          sb,
          podman,
          {
            name: 'web2',
            network: 'e2enet',
            hostPort: 8081,
            gateway: '10.88.5.1',
            subnetPrefix: '10.88.5.',
            staticIp: '10.88.5.77',
            staticMac: '02:42:0a:58:05:4d',
            gateway6: 'fd00:88:5::1',
            subnet6Prefix: 'fd00:88:5:',
            again: ['restart', 'reload'],
          },
          steps,
        );
        const chainAdd = ['bridge ADD', 'portmap ADD', 'firewall ADD', 'tuning ADD', 'dnsname ADD'];
        const chainDel = ['dnsname DEL', 'tuning DEL', 'firewall DEL', 'portmap DEL', 'bridge DEL'];
        expect(verbs(second)).toEqual([...chainAdd, ...chainDel, ...chainAdd, ...chainDel, ...chainAdd, ...chainDel]);
        expect(callsOf(second, 'bridge', 'ADD')[0]?.args).toContain('IP=10.88.5.77');
        await podman(['network', 'rm', 'e2enet']);

        // A container that exits by itself: the DEL comes from `podman container cleanup`, which
        // conmon starts when the container exits (not from the podman command that ran it).
        const before = sb.trace().length;
        const rmId = (
          await podman(['run', '-d', '--rm', '-p', '8082:80', '--cgroup-parent', sb.cgroupParent, IMAGE_REF, 'true'])
        ).trim();
        await sb.waitFor('podman to clean up the exited container', async () => {
          return (await podman(['ps', '-a', '-q'])).trim() === '';
        });
        const exited = sb.trace().slice(before);
        expect(verbs(exited)).toEqual(['bridge ADD', 'portmap ADD', 'portmap DEL', 'bridge DEL']);
        const exitedIp = resultIp(exited);
        expect(await leftovers(sb, { containerIds: [rmId], ips: [exitedIp] })).toEqual([]);
        steps.mark('run --rm, exit');

        const trace = sb.trace();
        expectAllCallsOk(trace);
        expectVersion(trace, version, ['bridge', 'portmap', 'firewall', 'tuning', 'dnsname']);
        // Every ADD and DEL is preceded by VERSION probes of the network's plugins.
        expect(callsOf(trace, 'bridge', 'VERSION').length).toBeGreaterThanOrEqual(4);
        for (const e of callsOf(trace, 'portmap', 'ADD')) expect(e.runtimeConfigKeys).toEqual(['portMappings']);
      });
    },
    JEST_TIMEOUT_MS,
  );
});

type Exec = (ctr: string, script: string) => Promise<{ code: number; stdout: string; stderr: string }>;

/** A shell command in a running container (its output, never throws). */
const execIn =
  (sb: RuntimeSandbox): Exec =>
  (ctr, script) =>
    sb.exec(['podman', 'exec', ctr, 'sh', '-c', script], { timeoutMs: 60_000 });

/** The address busybox's nslookup in `ctr` finds for `name` ('' when none). */
async function lookup(exec: Exec, ctr: string, name: string): Promise<string> {
  const r = await exec(ctr, `nslookup -type=a ${name} 2>&1; true`);
  return /Name:\s*\S+\s+Address(?: 1)?:\s*([0-9.]+)/.exec(r.stdout)?.[1] ?? '';
}

/**
 * Waits until `ctr` fetches `token` from `url` (a name its resolver must know already): the
 * server's container may still be starting its httpd when `podman run -d` returns.
 */
async function fetchesByName(sb: RuntimeSandbox, exec: Exec, ctr: string, url: string, token: string): Promise<void> {
  let last = '';
  await sb
    .waitFor(`${ctr} to fetch ${url}`, async () => {
      const r = await exec(ctr, fetchScript(url));
      last = `${r.code} ${r.stdout}${r.stderr}`;
      return r.stdout === `${token}\n`;
    })
    .catch((e: Error) => {
      throw new Error(`${e.message}; last: ${last}`);
    });
}

/**
 * A server beyond the uplink (what "no way out" must not reach), and a route back to podman's
 * subnets there, so that the uplink can answer the networks and reach into them: only the
 * firewall, not a missing route, keeps an internal network apart. Returns a fetch from there.
 */
async function uplinkServer(sb: RuntimeSandbox, token: string): Promise<(ip: string) => Promise<string>> {
  const www = join(sb.dir, 'uplink-www');
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, 'index.html'), `${token}\n`);
  sb.startDaemon('uplink-httpd', [
    'ip',
    'netns',
    'exec',
    UPLINK.ns,
    'busybox',
    'httpd',
    '-f',
    '-p',
    `${UPLINK.farIp}:80`,
    '-h',
    www,
  ]);
  await sb.sh(`ip -n ${UPLINK.ns} route add 10.88.0.0/16 via ${UPLINK.hostIp}`);
  await expectHttpToken(sb, directUrl(UPLINK.farIp), token);
  return async (ip) => {
    const get = ['timeout', '-s', 'KILL', '4', 'busybox', 'wget', '-q', '-O', '-', directUrl(ip)];
    return (await sb.exec(['ip', 'netns', 'exec', UPLINK.ns, ...get], { timeoutMs: 10_000 })).stdout;
  };
}

const DNSNAME = { type: 'dnsname', domainName: 'dns.podman', capabilities: { aliases: true } };

describe('podman (CNI backend): names on user-defined networks (dnsname)', () => {
  it(
    'network create adds dnsname; run --name, --network-alias; resolv.conf; rm removes the name; the resolver stops with the last container',
    async () => {
      await scenario('podman-dns', async (sb, steps) => {
        const podman = await setupPodman(sb, '0.4.0');
        requireProgram('dnsmasq');
        const exec = execIn(sb);
        await podman(['network', 'create', '--subnet', '10.88.7.0/24', 'dnsnet']);
        const own = JSON.parse(readFileSync(join(sb.hostPath('/etc/cni/net.d'), 'dnsnet.conflist'), 'utf8')) as {
          plugins: Array<Record<string, unknown>>;
        };
        expect(own.plugins.map((p) => p['type'])).toEqual(['bridge', 'portmap', 'firewall', 'tuning', 'dnsname']);
        expect(own.plugins[4]).toEqual(DNSNAME);
        steps.mark('network create');

        const token = newToken();
        const run = ['run', '-d', '--network', 'dnsnet', '--cgroup-parent', sb.cgroupParent];
        await podman([
          ...run,
          '--name',
          'web',
          '--network-alias',
          'www',
          IMAGE_REF,
          'sh',
          '-c',
          httpServerScript(token),
        ]);
        await podman([...run, '--name', 'client', IMAGE_REF, 'sleep', '3600']);
        const webIp = await inspect(podman, 'web', 'IPAddress');
        for (const name of ['web', 'web.dns.podman', 'www', 'www.dns.podman'])
          expect(await lookup(exec, 'client', name)).toBe(webIp);
        // By name: the client's own resolver library asks the network's resolver (resolv.conf).
        for (const name of ['web', 'www.dns.podman']) await fetchesByName(sb, exec, 'client', `http://${name}/`, token);
        const resolv = (await exec('client', 'cat /etc/resolv.conf')).stdout;
        expect(resolv).toContain('nameserver 10.88.7.1');
        expect(resolv).toMatch(/search .*dns\.podman/);
        steps.mark('names resolve, fetch by name, resolv.conf');

        await podman(['rm', '-f', '-t', '0', 'web']);
        expect(await lookup(exec, 'client', 'web')).toBe('');
        expect(await lookup(exec, 'client', 'www')).toBe('');
        steps.mark('rm removes the name');

        await podman(['rm', '-f', '-t', '0', 'client']);
        expect(await sb.exec(['pgrep', '-f', 'cni/dnsname/dnsnet/dnsmasq.conf'])).toMatchObject({ code: 1 });
        steps.mark('the resolver stops with the last container');
        expectAllCallsOk(sb.trace());
      });
    },
    JEST_TIMEOUT_MS,
  );

  it(
    'network create --internal with dnsname: names resolve, containers reach each other, no way out, nothing in',
    async () => {
      await scenario('podman-dns-internal', async (sb, steps) => {
        const podman = await setupPodman(sb, '0.4.0');
        requireProgram('dnsmasq');
        const exec = execIn(sb);
        const outToken = newToken();
        const fromUplink = await uplinkServer(sb, outToken);
        // podman 4.3 refuses dnsname on internal networks ("incompatible"): the conflist it writes
        // has none, the operator appends it (README), and then names resolve with no way out.
        const created = await sb.exec([
          'podman',
          'network',
          'create',
          '--internal',
          '--subnet',
          '10.88.8.0/24',
          'intnet',
        ]);
        expect(created.stderr).toContain('dnsname and internal networks are incompatible');
        const intFile = join(sb.hostPath('/etc/cni/net.d'), 'intnet.conflist');
        const internal = JSON.parse(readFileSync(intFile, 'utf8')) as { plugins: Array<Record<string, unknown>> };
        // isGateway false; ipMasq left out (false)
        expect(internal.plugins[0]).toMatchObject({ type: 'bridge', isGateway: false });
        expect(internal.plugins[0]?.['ipMasq']).toBeFalsy();
        internal.plugins.push(DNSNAME);
        writeFileSync(intFile, JSON.stringify(internal, null, 3));
        steps.mark('network create --internal');

        const run = (network: string, name: string, ...rest: string[]): Promise<string> =>
          podman(['run', '-d', '--network', network, '--cgroup-parent', sb.cgroupParent, '--name', name, ...rest]);
        // Both add a default route of their own (toward the resolver's address on the bridge):
        // a route is then not what keeps them in.
        const route = 'ip route add default via 10.88.8.1';
        const intToken = newToken();
        const serve = `${route}; ${httpServerScript(intToken)}`;
        await run('intnet', 'secret', '--cap-add', 'NET_ADMIN', IMAGE_REF, 'sh', '-c', serve);
        await run('intnet', 'iclient', '--cap-add', 'NET_ADMIN', IMAGE_REF, 'sleep', '3600');
        // A container of another network (podman's default one, no dnsname).
        await run('podman', 'outer', IMAGE_REF, 'sleep', '3600');
        const secretIp = await inspect(podman, 'secret', 'IPAddress');
        expect(await lookup(exec, 'iclient', 'secret.dns.podman')).toBe(secretIp);
        expect(await lookup(exec, 'iclient', 'secret')).toBe(secretIp);
        await fetchesByName(sb, exec, 'iclient', 'http://secret/', intToken);
        steps.mark('names resolve, containers reach each other');

        expect((await exec('iclient', 'ip route')).stdout).not.toContain('default');
        await exec('iclient', route);
        expect((await exec('iclient', 'ip route')).stdout).toContain('default');
        // The way out works from the other network: the server is there and routed.
        expect((await exec('outer', fetchScript(directUrl(UPLINK.farIp)))).stdout).toBe(`${outToken}\n`);
        // No way out from the internal network.
        expect((await exec('iclient', fetchScript(directUrl(UPLINK.farIp)))).stdout).toBe('');
        // Nothing in: from beyond the uplink, from the other network's container.
        expect(await fromUplink(secretIp)).toBe('');
        expect((await exec('outer', fetchScript(directUrl(secretIp)))).stdout).toBe('');
        // The sandbox host itself still reaches it (not forwarded): the server was up all along.
        await expectHttpToken(sb, directUrl(secretIp), intToken);
        steps.mark('no way out, nothing in');

        for (const c of ['secret', 'iclient', 'outer']) await podman(['rm', '-f', '-t', '0', c]);
        expect(await sb.exec(['pgrep', '-f', 'cni/dnsname/intnet/dnsmasq.conf'])).toMatchObject({ code: 1 });
        // The resolver's address on the bridge went with it.
        const bridge = String(internal.plugins[0]?.['bridge']);
        expect((await sb.exec(['ip', '-o', 'addr', 'show', 'dev', bridge])).stdout).not.toContain('10.88.8.1/');
        steps.mark('rm');
        expectAllCallsOk(sb.trace());
      });
    },
    JEST_TIMEOUT_MS,
  );

  it(
    'podman-compose: a service reaches another by its service name; another project cannot resolve them',
    async () => {
      await scenario('podman-compose', async (sb, steps) => {
        await setupPodman(sb, '0.4.0');
        requireProgram('dnsmasq');
        requireProgram('podman-compose');
        const token = newToken();
        const dir = join(sb.dir, 'compose');
        mkdirSync(join(dir, 'one'), { recursive: true });
        mkdirSync(join(dir, 'two'), { recursive: true });
        writeFileSync(
          join(dir, 'one', 'docker-compose.yml'),
          [
            "version: '3'",
            'services:',
            '  web:',
            `    image: ${IMAGE_REF}`,
            `    command: ["sh", "-c", "${httpServerScript(token)}"]`,
            '  client:',
            `    image: ${IMAGE_REF}`,
            '    command: ["sleep", "3600"]',
            '',
          ].join('\n'),
        );
        writeFileSync(
          join(dir, 'two', 'docker-compose.yml'),
          [
            "version: '3'",
            'services:',
            '  probe:',
            `    image: ${IMAGE_REF}`,
            '    command: ["sleep", "3600"]',
            '',
          ].join('\n'),
        );
        const compose = async (project: string, verb: string): Promise<void> => {
          const r = await sb.exec(['sh', '-c', `cd ${join(dir, project)} && podman-compose -p ${project} ${verb}`], {
            timeoutMs: 120_000,
          });
          if (r.code !== 0) throw new Error(`podman-compose ${verb} ${project}: ${r.stdout}${r.stderr}`);
        };
        const up = (project: string): Promise<void> => compose(project, 'up -d');
        await up('one');
        steps.mark('compose up one');
        const exec = execIn(sb);
        const nameOf = (ctr: string, name: string): Promise<string> => lookup(exec, ctr, name);
        const webIp = await nameOf('one_client_1', 'web');
        expect(webIp).not.toBe('');
        await fetchesByName(sb, exec, 'one_client_1', 'http://web/', token);
        steps.mark('service name resolves');
        await up('two');
        expect(await nameOf('two_probe_1', 'web')).toBe('');
        expect(await nameOf('two_probe_1', 'web.dns.podman')).toBe('');
        steps.mark('other project cannot resolve');
        for (const p of ['one', 'two']) await compose(p, 'down -t 0');
        // Both projects' resolvers stopped with their last containers.
        expect(await sb.exec(['pgrep', '-f', 'cni/dnsname/'])).toMatchObject({ code: 1 });
        steps.mark('compose down');
        expectAllCallsOk(sb.trace());
      });
    },
    JEST_TIMEOUT_MS,
  );
});
