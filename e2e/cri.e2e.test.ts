/**
 * The Kubernetes path: containerd 1.6's CRI plugin, driven over its gRPC socket the way kubelet
 * does it (e2e/harness/cri.ts): a dual-stack RunPodSandbox with two port mappings (one bound to
 * a host address), a container in the pod,
 * StopPodSandbox, RemovePodSandbox. CRI calls `loopback` (borrowed from the reference for now)
 * and examples/e2e/cri.conflist from /opt/cni/bin, and sends capability args with capitalised keys.
 */
import { describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
