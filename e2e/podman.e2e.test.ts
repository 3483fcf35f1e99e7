/**
 * podman 4.3 with its CNI backend and /opt/cni/bin (examples/e2e/containers.conf):
 * - `podman run -p` on the default network "podman", our examples/e2e/podman.conflist;
 * - `podman network create` of a dual-stack network, then a container with a host port, `--ip`
 *   and `--mac-address` on it, whose conflist podman wrote itself (bridge, portmap, firewall,
 *   tuning; podman writes cniVersion 0.4.0, the 1.0.0 run rewrites that one key), restarted
 *   once and its network reloaded once.
 * Podman probes VERSION of every plugin of every network before each command.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkInside,
  directUrl,
  expectHttpToken,
  hostPortUrls,
  httpServerScript,
  InContainer,
  leftovers,
  newToken,
} from './harness/checks';
import { buildBusyboxImage, IMAGE_REF } from './harness/image';
import { RuntimeSandbox } from './harness/sandbox';
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
        expect(own.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'firewall', 'tuning']);
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
        const chainAdd = ['bridge ADD', 'portmap ADD', 'firewall ADD', 'tuning ADD'];
        const chainDel = ['tuning DEL', 'firewall DEL', 'portmap DEL', 'bridge DEL'];
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
        expectVersion(trace, version, ['bridge', 'portmap', 'firewall', 'tuning']);
        // Every ADD and DEL is preceded by VERSION probes of the network's plugins.
        expect(callsOf(trace, 'bridge', 'VERSION').length).toBeGreaterThanOrEqual(4);
        for (const e of callsOf(trace, 'portmap', 'ADD')) expect(e.runtimeConfigKeys).toEqual(['portMappings']);
      });
    },
    JEST_TIMEOUT_MS,
  );
});
