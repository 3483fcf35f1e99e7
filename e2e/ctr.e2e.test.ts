/**
 * `ctr run --cni` (containerd 1.6, runc): ctr itself calls the plugins through go-cni with the
 * first conflist of /etc/cni/net.d (examples/e2e/ctr.conflist) and /opt/cni/bin. ctr has no flag
 * for port mappings and sends none, so the conflist carries a static `runtimeConfig` for portmap
 * (libcni passes it through unchanged when the runtime sends no capability args). ctr sends DEL
 * only from a foreground `ctr run`, after the task exited, with an empty CNI_NETNS.
 */
import { describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkInside, expectHttpToken, hostPortUrls, httpServerScript, leftovers, newToken } from './harness/checks';
import { startContainerd } from './harness/containerd';
import { IMAGE_REF } from './harness/image';
import { CNI_VERSIONS, JEST_TIMEOUT_MS, conflist, expectAllCallsOk, expectVersion, scenario } from './harness/scenario';
import { callsOf, resultIp } from './harness/trace';

const HOST_PORT = 8080;
const GATEWAY = '10.88.2.1';

describe('ctr run --cni', () => {
  it.each(CNI_VERSIONS)(
    'cniVersion %s: run, traffic, kill, DEL without netns',
    async (version) => {
      await scenario(`ctr-${version}`, async (sb, steps) => {
        writeFileSync(join(sb.hostPath('/etc/cni/net.d'), '10-e2e.conflist'), conflist('ctr.conflist', version));
        const cd = await startContainerd(sb, 'containerd-ctr.toml', ['default']);
        steps.mark('containerd+image');

        const id = 'web';
        const token = newToken();
        const run = sb.startDaemon(
          'ctr-run',
          cd
            .ctrArgv(['run', '--rm', '--cni', '--cgroup', `${sb.cgroupParent}/${id}`, IMAGE_REF, id])
            .concat(['sh', '-c', httpServerScript(token)]),
        );
        await sb.waitFor('the container to get an address', async () => resultIp(sb.trace()) !== '', 30_000);
        const ip = resultIp(sb.trace());
        expect(ip).toMatch(/^10\.88\.2\./);
        steps.mark('run');

        let n = 0;
        const inside = (argv: string[]): ReturnType<typeof cd.ctr> =>
          cd.ctr(['task', 'exec', '--exec-id', `check${n++}`, id, ...argv]);
        await checkInside(inside, ip, GATEWAY);
        for (const url of [...hostPortUrls(HOST_PORT), `http://${ip}/`]) await expectHttpToken(sb, url, token);
        steps.mark('traffic');

        const exited = new Promise<number | null>((res) => run.child.once('exit', (code) => res(code)));
        await cd.ctrOk(['task', 'kill', '-s', 'KILL', id]);
        await exited;
        await sb.waitFor(
          'ctr to remove the container',
          async () => !(await cd.ctr(['containers', 'ls', '-q'])).stdout.trim(),
        );
        steps.mark('kill+del');

        const trace = sb.trace();
        const containerId = callsOf(trace, 'bridge', 'ADD')[0]?.containerId ?? '';
        expect(containerId).toBe(`default-${id}`);
        expect(await leftovers(sb, { containerIds: [containerId], ips: [ip] })).toEqual([]);
        expectAllCallsOk(trace);
        expectVersion(trace, version, ['bridge', 'portmap']);
        expect(trace.map((e) => `${e.plugin} ${e.command}`)).toEqual([
          'bridge ADD',
          'portmap ADD',
          'portmap DEL',
          'bridge DEL',
        ]);
        // The ADD has the task's netns (/proc/<pid>/ns/net); the DEL, sent after the task is gone, has none.
        expect(callsOf(trace, 'bridge', 'ADD')[0]?.netns).toMatch(/^\/proc\/\d+\/ns\/net$/);
        for (const del of callsOf(trace, 'bridge', 'DEL').concat(callsOf(trace, 'portmap', 'DEL'))) {
          expect(del.netns ?? '').toBe('');
        }
      });
    },
    JEST_TIMEOUT_MS,
  );
});
