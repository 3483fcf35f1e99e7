/**
 * cnitool (libcni 1.1.2, built from Debian's source by e2e/build-cnitool.sh) drives bin/ through
 * examples/e2e/cnitool.conflist (iptables) and cnitool-nftables.conflist (both plugins on their
 * nftables backends): ADD with a port mapping, CHECK, DEL, a second DEL. This cnitool has no GC or
 * STATUS verbs (libcni gained them in 1.2).
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkInside, expectHttpToken, hostPortUrls, leftovers, newToken } from './harness/checks';
import { RuntimeSandbox } from './harness/sandbox';
import {
  CNI_VERSIONS,
  JEST_TIMEOUT_MS,
  E2E_BUILD_DIR,
  conflist,
  expectAllCallsOk,
  expectVersion,
  scenario,
} from './harness/scenario';
import { callsOf } from './harness/trace';

const CNITOOL = join(E2E_BUILD_DIR, 'cnitool');
/** [conflist, network name, tag]: the same chain on the iptables and on the nftables backends. */
const VARIANTS = [
  ['cnitool.conflist', 'e2e-cnitool', 'cnitool'],
  ['cnitool-nftables.conflist', 'e2e-cnitool-nft', 'cnitool-nft'],
] as const;
const CASES = VARIANTS.flatMap(([file, net, tag]) => CNI_VERSIONS.map((v) => [tag, v, file, net] as const));
const HOST_PORT = 8080;
const GATEWAY = '10.88.1.1';

describe('cnitool', () => {
  it.each(CASES)(
    '%s, cniVersion %s: add, check, del, del again',
    async (tag, version, file, NET) => {
      if (!existsSync(CNITOOL)) throw new Error(`${CNITOOL} is missing: run make e2e (it builds cnitool first)`);
      await scenario(`${tag}-${version}`, async (sb: RuntimeSandbox, steps) => {
        writeFileSync(join(sb.hostPath('/etc/cni/net.d'), '10-e2e.conflist'), conflist(file, version));
        await sb.sh('ip netns add c1 && ip -n c1 link set lo up');
        const netns = '/run/netns/c1';
        const env = {
          CNI_PATH: '/opt/cni/bin',
          NETCONFPATH: '/etc/cni/net.d',
          CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: HOST_PORT, containerPort: 80, protocol: 'tcp' }] }),
        };
        const cnitool = (verb: string): Promise<{ code: number; stdout: string; stderr: string }> =>
          sb.exec([CNITOOL, verb, NET, netns], { env });

        const add = await cnitool('add');
        if (add.code !== 0) throw new Error(`cnitool add failed: ${add.stderr}${add.stdout}`);
        steps.mark('add');
        const result = JSON.parse(add.stdout) as { cniVersion: string; ips: { address: string }[] };
        expect(result.cniVersion).toBe(version);
        const ip = result.ips[0]?.address.split('/')[0] ?? '';
        expect(ip).toMatch(/^10\.88\.1\./);

        const token = newToken();
        const www = join(sb.dir, 'www');
        mkdirSync(www);
        writeFileSync(join(www, 'index.html'), `${token}\n`);
        sb.startDaemon('httpd', ['nsenter', `--net=${netns}`, 'busybox', 'httpd', '-f', '-p', '80', '-h', www]);
        await checkInside((argv) => sb.exec(['ip', 'netns', 'exec', 'c1', ...argv]), ip, GATEWAY);
        for (const url of [...hostPortUrls(HOST_PORT), `http://${ip}/`]) await expectHttpToken(sb, url, token);
        steps.mark('traffic');

        const check = await cnitool('check');
        if (check.code !== 0) throw new Error(`cnitool check failed: ${check.stderr}${check.stdout}`);
        const del = await cnitool('del');
        if (del.code !== 0) throw new Error(`cnitool del failed: ${del.stderr}${del.stdout}`);
        const del2 = await cnitool('del');
        if (del2.code !== 0) throw new Error(`second cnitool del failed: ${del2.stderr}${del2.stdout}`);
        steps.mark('check+del+del');

        await sb.stopDaemon('httpd', 'KILL');
        await sb.sh('ip netns del c1');
        const trace = sb.trace();
        const containerId = callsOf(trace, 'bridge', 'ADD')[0]?.containerId ?? '';
        expect(containerId).toMatch(/^cnitool-[0-9a-f]{20}$/);
        expect(await leftovers(sb, { containerIds: [containerId], ips: [ip] })).toEqual([]);
        expectAllCallsOk(trace);
        expectVersion(trace, version, ['bridge', 'portmap']);
        // libcni runs the chain forward on ADD/CHECK and backwards on DEL; both DELs reach both plugins.
        expect(trace.map((e) => `${e.plugin} ${e.command}`)).toEqual([
          'bridge ADD',
          'portmap ADD',
          'bridge CHECK',
          'portmap CHECK',
          'portmap DEL',
          'bridge DEL',
          'portmap DEL',
          'bridge DEL',
        ]);
        expect(callsOf(trace, 'portmap', 'ADD')[0]?.runtimeConfigKeys).toEqual(['portMappings']);
      });
    },
    JEST_TIMEOUT_MS,
  );
});
