/**
 * The Kubernetes path: containerd 1.6's CRI plugin, driven over its gRPC socket the way kubelet
 * does it (e2e/harness/cri.ts): a dual-stack RunPodSandbox with two port mappings (one bound to
 * a host address), a container in the pod,
 * StopPodSandbox, RemovePodSandbox. CRI calls `loopback` (borrowed from the reference for now)
 * and examples/e2e/cri.conflist from /opt/cni/bin, and sends capability args with capitalised keys.
 */
import { describe, expect, it } from '@jest/globals';
import { createHash, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  checkInside,
  directUrl,
  expectHttpToken,
  hostPortUrls,
  httpGet,
  httpServerScript,
  leftovers,
  newToken,
} from './harness/checks';
import { startContainerd } from './harness/containerd';
import { BIN_DIR } from '../lib/testutil/sandbox';
import { CriClient, PodConfig } from './harness/cri';
import { IMAGE_REF } from './harness/image';
import { UPLINK } from './harness/sandbox';
import { CNI_VERSIONS, JEST_TIMEOUT_MS, conflist, expectAllCallsOk, expectVersion, scenario } from './harness/scenario';
import { callsOf } from './harness/trace';

const HOST_PORT = 8080;
/** A second mapping bound to one host address (kubelet sends HostIP when a pod asks for it). */
const HOST_IP_PORT = 8443;
const GATEWAY = '10.88.4.1';
const GATEWAY6 = 'fd00:88:4::1';

describe('containerd CRI', () => {
  it.each(CNI_VERSIONS)(
    'cniVersion %s: dual-stack RunPodSandbox, two ports (one on a host IP), ExecSync, StopPodSandbox, RemovePodSandbox',
    async (version) => {
      await scenario(`cri-${version}`, async (sb, steps) => {
        writeFileSync(join(sb.hostPath('/etc/cni/net.d'), '10-e2e.conflist'), conflist('cri.conflist', version));
        const cd = await startContainerd(sb, 'containerd-cri.toml', ['k8s.io']);
        const cri = new CriClient(cd.socket);
        try {
          await sb.waitFor('the CRI service', async () => {
            try {
              return (await cri.version()).runtimeName === 'containerd';
            } catch {
              return false;
            }
          });
          steps.mark('containerd+image');

          const pod: PodConfig = {
            name: 'web',
            uid: randomUUID(),
            namespace: 'e2e',
            portMappings: [
              { protocol: 'TCP', containerPort: 80, hostPort: HOST_PORT },
              { protocol: 'TCP', containerPort: 80, hostPort: HOST_IP_PORT, hostIp: UPLINK.hostIp },
            ],
            cgroupParent: sb.cgroupParent,
          };
          const podId = await cri.runPodSandbox(pod);
          const status = await cri.podSandboxStatus(podId);
          expect(status.state).toBe(0);
          const ip = status.ip;
          expect(ip).toMatch(/^10\.88\.4\./);
          const ip6 = status.additionalIps[0] ?? '';
          expect(ip6).toMatch(/^fd00:88:4:/);
          steps.mark('RunPodSandbox');

          const token = newToken();
          const ctrId = await cri.createContainer(podId, pod, {
            name: 'httpd',
            image: IMAGE_REF,
            command: ['sh', '-c', httpServerScript(token)],
          });
          await cri.startContainer(ctrId);
          steps.mark('container');
          const inside = (argv: string[]): ReturnType<typeof cri.execSync> => cri.execSync(ctrId, argv);
          await checkInside(inside, ip, GATEWAY);
          await checkInside(inside, ip6, GATEWAY6);
          const urls = [...hostPortUrls(HOST_PORT, true), `http://${UPLINK.hostIp}:${HOST_IP_PORT}/`];
          for (const url of [...urls, directUrl(ip), directUrl(ip6)]) await expectHttpToken(sb, url, token);
          // Bound to the uplink address only: localhost must not reach it.
          const other = await httpGet(sb, `http://127.0.0.1:${HOST_IP_PORT}/`);
          expect(other.stdout).not.toContain(token);
          steps.mark('traffic');

          const afterAdd = sb.trace().length;
          await cri.stopPodSandbox(podId);
          const afterStop = sb.trace().length;
          steps.mark('StopPodSandbox');
          await cri.removePodSandbox(podId);
          expect(await cri.listPodSandboxIds()).toEqual([]);
          steps.mark('RemovePodSandbox');

          const trace = sb.trace();
          expect(await leftovers(sb, { containerIds: [podId], ips: [ip, ip6] })).toEqual([]);
          expectAllCallsOk(trace);
          expectVersion(trace, version, ['bridge', 'portmap']);
          const calls = (from: number, to?: number): string[] =>
            trace
              .slice(from, to)
              .map((e) => `${e.plugin} ${e.command} ${e.netns ? 'netns' : 'no-netns'}`)
              .sort();
          // loopback and the conflist are set up concurrently; both get a DEL from StopPodSandbox
          // (netns still there) and another from RemovePodSandbox (netns gone: CNI_NETNS empty).
          expect(calls(0, afterAdd)).toEqual(['bridge ADD netns', 'loopback ADD netns', 'portmap ADD netns']);
          expect(calls(afterAdd, afterStop)).toEqual(['bridge DEL netns', 'loopback DEL netns', 'portmap DEL netns']);
          expect(calls(afterStop)).toEqual(['bridge DEL no-netns', 'loopback DEL no-netns', 'portmap DEL no-netns']);
          // CRI's port mappings are go-cni's struct without JSON tags: capitalised keys.
          const pm = callsOf(trace, 'portmap', 'ADD')[0]?.config?.['runtimeConfig'];
          expect(pm).toEqual({
            portMappings: [
              { HostPort: HOST_PORT, ContainerPort: 80, Protocol: 'tcp', HostIP: '' },
              { HostPort: HOST_IP_PORT, ContainerPort: 80, Protocol: 'tcp', HostIP: UPLINK.hostIp },
            ],
          });
        } finally {
          cri.close();
        }
      });
    },
    JEST_TIMEOUT_MS,
  );
});

/*
 * The k3s shape: bridge + portmap + bandwidth, the pod asking for 1 Mbit/s each way through its
 * annotations. containerd turns them into the `bandwidth` capability with a burst of 2^32-1 bits
 * (as kubenet did), which the kernel's 32-bit tick field caps at ~275 s of traffic at the rate:
 * the first ~34 MB pass at full speed (with the reference too, kubernetes/kubernetes#90838). So
 * the pod moves a little more than that bucket each way (it reads from, and writes to, a server
 * on the sandbox host), and the proof is the kernel's counters on the tbf the traffic passed, not
 * a clock: its bytes cover the transfer, its overlimits grew (the bucket ran dry and it held
 * packets back), and what it let through is no more than the bucket plus the rate (+10%) over the
 * time between the two counter reads — a bound load can loosen but not break; unshaped, the
 * bytes past the bucket (~0.8 MB, 6.5 s at the rate) would come far faster than that allows.
 */
type Json = Record<string, unknown>;
const BW_GATEWAY = '10.88.5.1';
const BW_RATE = 1_000_000; // "1M", bits per second
const CHUNK = 131_072;
/** The bucket in payload bytes at most: 2^32-1 ticks of 64 ns at the rate, TCP payload of 1460 in 1514-byte frames. */
const BUCKET_PAYLOAD_MAX = (((((2 ** 32 - 1) * 64) / 1e9) * BW_RATE) / 8) * (1460 / 1514);
/** What each direction moves: the bucket and 6 chunks more. */
const TOTAL = Math.ceil((BUCKET_PAYLOAD_MAX + 6 * CHUNK) / CHUNK) * CHUNK;
/** What a tbf may pass beyond bucket + rate × time: one 64 KiB GSO packet already dequeued. */
const SLACK_BYTES = 65536;

// On the sandbox host: GET /stream/<n> sends n bytes; port 8091 takes TOTAL bytes; GET /last
// returns how many it took.
const BW_SERVER = `
const [gw, total] = process.argv.slice(1).map((x, i) => (i ? Number(x) : x));
let last = null;
require('node:http').createServer((req, res) => {
  const m = /^\\/stream\\/(\\d+)$/.exec(req.url);
  if (m) {
    let left = Number(m[1]);
    res.writeHead(200, { 'content-length': left });
    const buf = Buffer.alloc(65536);
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, buf.length);
        left -= n;
        if (!res.write(n === buf.length ? buf : buf.subarray(0, n))) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  res.end(JSON.stringify(last));
}).listen(8090, gw);
require('node:net').createServer((c) => {
  let got = 0;
  c.on('data', (d) => {
    got += d.length;
    if (got >= total) { last = { bytes: got }; c.destroy(); }
  });
}).listen(8091, gw, () => console.log('listening'));`;

interface TbfCounters {
  readonly bytes: number;
  readonly overlimits: number;
  /** The tbf's rate and bucket as the kernel reports them, in bytes (per second). */
  readonly rate: number;
  readonly burst: number;
}

/** Bytes moved through a tbf: the counters before and after, the clock read outside both. */
async function throughTbf(what: string, read: () => Promise<TbfCounters>, move: () => Promise<void>): Promise<void> {
  const t0 = performance.now();
  const c0 = await read();
  await move();
  const c1 = await read();
  const seconds = (performance.now() - t0) / 1000;
  const bytes = c1.bytes - c0.bytes;
  const allowed = c1.burst + 1.1 * c1.rate * seconds + SLACK_BYTES;
  process.stdout.write(
    `${what}: the tbf (${(c1.rate * 8) / 1e6} Mbit/s, bucket ${(c1.burst / 1e6).toFixed(1)} MB) passed ` +
      `${bytes} B with ${c1.overlimits - c0.overlimits} overlimits in ${seconds.toFixed(1)} s (at most ${allowed.toFixed(0)} B allowed)\n`,
  );
  expect({ what, rate: c1.rate * 8 }).toEqual({ what, rate: BW_RATE });
  expect({
    what,
    counted: bytes >= TOTAL,
    heldBack: c1.overlimits > c0.overlimits,
    withinBucketAndRate: bytes <= allowed,
  }).toEqual({ what, counted: true, heldBack: true, withinBucketAndRate: true });
}

describe('containerd CRI with bandwidth annotations', () => {
  it(
    'cniVersion 1.0.0: a pod annotated 1M each way is shaped to 1 Mbit/s in and out: the pod moves past the bucket both ways, the tbfs pace it',
    async () => {
      await scenario('cri-bandwidth', async (sb, steps) => {
        writeFileSync(
          join(sb.hostPath('/etc/cni/net.d'), '10-e2e.conflist'),
          conflist('cri-bandwidth.conflist', '1.0.0'),
        );
        const cd = await startContainerd(sb, 'containerd-cri.toml', ['k8s.io']);
        const cri = new CriClient(cd.socket);
        try {
          await sb.waitFor('the CRI service', async () => {
            try {
              return (await cri.version()).runtimeName === 'containerd';
            } catch {
              return false;
            }
          });
          steps.mark('containerd+image');
          const pod: PodConfig = {
            name: 'shaped',
            uid: randomUUID(),
            namespace: 'e2e',
            portMappings: [],
            annotations: { 'kubernetes.io/ingress-bandwidth': '1M', 'kubernetes.io/egress-bandwidth': '1M' },
            cgroupParent: sb.cgroupParent,
          };
          const podId = await cri.runPodSandbox(pod);
          const ip = (await cri.podSandboxStatus(podId)).ip;
          expect(ip).toMatch(/^10\.88\.5\./);
          steps.mark('RunPodSandbox');
          const ctrId = await cri.createContainer(podId, pod, {
            name: 'sh',
            image: IMAGE_REF,
            command: ['sleep', '3600'],
          });
          await cri.startContainer(ctrId);
          const inside = (script: string, timeoutSec = 90): ReturnType<typeof cri.execSync> =>
            cri.execSync(ctrId, ['sh', '-c', script], timeoutSec);
          await checkInside((argv) => cri.execSync(ctrId, argv), ip, BW_GATEWAY);

          // containerd sent the annotations as the capability, in go-cni's capitalised keys.
          const bwAdd = callsOf(sb.trace(), 'bandwidth', 'ADD')[0];
          expect(bwAdd?.config?.['runtimeConfig']).toEqual({
            bandwidth: {
              IngressRate: BW_RATE,
              IngressBurst: 2 ** 32 - 1,
              EgressRate: BW_RATE,
              EgressBurst: 2 ** 32 - 1,
            },
          });
          sb.startDaemon('bw-server', [process.execPath, '-e', BW_SERVER, BW_GATEWAY, String(TOTAL)]);
          await sb.waitFor(
            'the traffic server',
            async () => (await inside(`wget -q -O - http://${BW_GATEWAY}:8090/last`)).code === 0,
          );
          steps.mark('pod');

          // The tbfs: on the pod's veth (the one port of the bridge), and on the ifb.
          const tbfOn = async (dev: string): Promise<TbfCounters> => {
            const q = ((await sb.execOk(['tc', '-s', '-j', 'qdisc', 'show', 'dev', dev])).json as Json[]).find(
              (x) => x['root'] === true,
            );
            const o = (q?.['options'] ?? {}) as Json;
            if (q?.['kind'] !== 'tbf') throw new Error(`root qdisc of ${dev}: ${JSON.stringify(q)}`);
            return {
              bytes: Number(q['bytes']),
              overlimits: Number(q['overlimits']),
              rate: Number(o['rate']),
              burst: Number(o['burst']),
            };
          };
          const ports = (await sb.execOk(['ip', '-j', 'link', 'show', 'master', 'cni-e2e-bw0'])).json as Json[];
          const ifbs = (await sb.execOk(['ip', '-j', 'link', 'show', 'type', 'ifb'])).json as Json[];
          expect([ports.length, ifbs.length]).toEqual([1, 1]);
          const veth = String(ports[0]?.['ifname']);
          const ifb = String(ifbs[0]?.['ifname']);

          // Into the pod: the pod reads TOTAL bytes from the host.
          await throughTbf(
            'into the pod',
            () => tbfOn(veth),
            async () => {
              const got = await inside(`wget -q -O - http://${BW_GATEWAY}:8090/stream/${TOTAL} | wc -c`);
              expect(Number(got.stdout.trim())).toBe(TOTAL);
            },
          );
          steps.mark('ingress');

          // Out of the pod: the pod writes TOTAL bytes to the host and asks how many arrived.
          await throughTbf(
            'out of the pod',
            () => tbfOn(ifb),
            async () => {
              const sent = await inside(
                `dd if=/dev/zero bs=${CHUNK} count=${TOTAL / CHUNK} 2>/dev/null | nc ${BW_GATEWAY} 8091;` +
                  ` wget -q -O - http://${BW_GATEWAY}:8090/last`,
              );
              expect((JSON.parse(sent.stdout.trim()) as { bytes: number }).bytes).toBe(TOTAL);
            },
          );
          steps.mark('egress');
          await sb.stopDaemon('bw-server', 'KILL');

          await cri.stopPodSandbox(podId);
          await cri.removePodSandbox(podId);
          steps.mark('Stop+RemovePodSandbox');
          const trace = sb.trace();
          expectAllCallsOk(trace);
          expect(await leftovers(sb, { containerIds: [podId], ips: [ip] })).toEqual([]);
          expect((await sb.exec(['ip', '-o', 'link', 'show', 'type', 'ifb'])).stdout).toBe('');
          // DEL came twice (StopPodSandbox with the netns, RemovePodSandbox without): both fine.
          expect(callsOf(trace, 'bandwidth', 'DEL').map((e) => (e.netns ? 'netns' : 'no-netns'))).toEqual([
            'netns',
            'no-netns',
          ]);
        } finally {
          cri.close();
        }
      });
    },
    JEST_TIMEOUT_MS,
  );
});

/**
 * `tscni gc` against CRI: two pods, one of them removed behind CRI's back (its sandbox task killed
 * and its container deleted with ctr, then containerd restarted, so CRI no longer knows it while
 * its network namespace, veth, leases, rules and cache entries stay). gc asks the CRI socket
 * (ListPodSandbox), collects the removed pod's attachments (the conflist's and CRI's loopback)
 * with their DELs, and keeps the pod CRI still lists. containerd 1.6's libcni caches no netns:
 * gc finds the abandoned pinned namespace by the pod's leased address, so the DELs remove the
 * veth too.
 */
describe('tscni gc with containerd CRI', () => {
  it(
    'collects the pods CRI no longer lists through its socket and keeps the others',
    async () => {
      await scenario('cri-gc', async (sb, steps) => {
        writeFileSync(join(sb.hostPath('/etc/cni/net.d'), '10-e2e.conflist'), conflist('cri.conflist', '1.0.0'));
        const cd = await startContainerd(sb, 'containerd-cri.toml', ['k8s.io']);
        let cri = new CriClient(cd.socket);
        const criUp = async (c: CriClient): Promise<void> =>
          sb.waitFor('the CRI service', async () => {
            try {
              return (await c.version()).runtimeName === 'containerd';
            } catch {
              return false;
            }
          });
        try {
          await criUp(cri);
          const pod = (name: string): PodConfig => ({
            name,
            uid: randomUUID(),
            namespace: 'e2e',
            portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: name === 'gone' ? 8081 : 8082 }],
            cgroupParent: sb.cgroupParent,
          });
          const goneId = await cri.runPodSandbox(pod('gone'));
          const keptId = await cri.runPodSandbox(pod('kept'));
          const gone = await cri.podSandboxStatus(goneId);
          const goneNetns = sb.trace().find((e) => e.containerId === goneId && e.command === 'ADD')?.netns ?? '';
          const goneNetnsFile = `/run/netns/${basename(goneNetns)}`;
          steps.mark('two pods');

          // Behind CRI's back: the sandbox's task and container go, and containerd restarts.
          await cd.ctrOk(['tasks', 'kill', '-s', 'SIGKILL', goneId], 'k8s.io');
          // CRI deletes a sandbox's task when it exits (it keeps the sandbox, NOTREADY); if it has
          // not yet, ctr does.
          const taskListed = async (): Promise<boolean> =>
            new RegExp(`^${goneId}\\s`, 'm').test((await cd.ctr(['tasks', 'ls'], 'k8s.io')).stdout);
          await sb.waitFor('the sandbox task to go', async () => {
            if (!(await taskListed())) return true;
            await cd.ctr(['tasks', 'rm', '-f', goneId], 'k8s.io');
            return !(await taskListed());
          });
          await cd.ctrOk(['containers', 'rm', goneId], 'k8s.io');
          cri.close();
          await sb.stopDaemon('containerd');
          sb.startDaemon('containerd-again', ['containerd', '--config', join(sb.dir, 'containerd.toml')]);
          cri = new CriClient(cd.socket);
          await criUp(cri);
          expect(await cri.listPodSandboxIds()).toEqual([keptId]);
          steps.mark('removed behind CRI');

          const gc = (...args: string[]) =>
            sb.exec([join(BIN_DIR, 'tscni'), 'gc', '--cri-socket', cd.socket, '--min-age', '0', ...args], {
              env: { CNI_PATH: '/opt/cni/bin' },
              timeoutMs: 120_000,
            });
          const dry = await gc('--dry-run');
          expect(dry.code).toBe(0);
          const line = (state: string, net: string, id: string, ifName: string): RegExp =>
            new RegExp(`^${state} +${net}/${id}/${ifName}: CRI \\(${cd.socket.replace(/[.]/g, '\\.')}\\) `, 'm');
          for (const [net, ifName] of [
            ['e2e-cri', 'eth0'],
            ['cni-loopback', 'lo'],
          ] as const) {
            expect(dry.stdout).toMatch(line('gone', net, goneId, ifName));
            expect(dry.stdout).toMatch(line('kept', net, keptId, ifName));
          }
          const before = sb.trace().length;
          const r = await gc();
          expect(r.stderr).toContain('2 collected, 2 kept, 0 failed');
          expect(r.code).toBe(0);
          steps.mark('tscni gc');
          // The runtime's DELs, as CRI would have sent them: with the netns (still pinned), the pod's args.
          const dels = sb
            .trace()
            .slice(before)
            .map(
              (e) =>
                `${e.plugin} ${e.command} ${e.containerId === goneId ? 'gone' : e.containerId} ${e.netns ? 'netns' : ''}`,
            )
            .sort();
          expect(dels).toEqual(['bridge DEL gone netns', 'loopback DEL gone netns', 'portmap DEL gone netns']);
          // Nothing of the gone pod is left but its pinned netns file (the runtime's to remove). The
          // kept pod's leases and chains are there still; the gone pod's chains are named by the
          // hash of network name and ID (the reference's rule names).
          const goneIps = [gone.ip, ...gone.additionalIps];
          const chainHash = createHash('sha512').update(`e2e-cri${goneId}`).digest('hex').slice(0, 21);
          const left = (await leftovers(sb, { containerIds: [goneId], ips: goneIps })).filter(
            (l) =>
              l.includes(goneId) ||
              l.includes(chainHash) ||
              goneIps.some((ip) => l.endsWith(`/${ip}`)) ||
              l === `netns file ${goneNetnsFile}`,
          );
          expect(left).toEqual([`netns file ${goneNetnsFile}`]);
          const bridgePorts = await sb.exec(['ip', '-o', 'link', 'show', 'master', 'cni-e2e0']);
          expect(bridgePorts.stdout.trim().split('\n')).toHaveLength(1); // the kept pod's veth alone

          // The kept pod is whole: removing it through CRI leaves nothing either.
          await cri.stopPodSandbox(keptId);
          await cri.removePodSandbox(keptId);
          const all = await leftovers(sb, { containerIds: [goneId, keptId], ips: goneIps });
          // What stays is the runtime's own: the removed pod's pinned netns file, which gc leaves to it.
          expect(all).toEqual([`netns file ${goneNetnsFile}`]);
        } finally {
          cri.close();
        }
      });
    },
    JEST_TIMEOUT_MS,
  );
});
